"""Checking --tag, --metadata, --storage-class and --content-type against S3's rules, before any
request: a bad value is one line and exit 2, not a failure of every file half-way through the run."""

from __future__ import annotations

import re
from collections.abc import Callable

# Our own metadata keys (pipeline.object_extra sets them): --metadata cannot set them.
OWN_METADATA = (
    "source-name",
    "source-size",
    "source-mtime-ns",
    "source-encoding",
    "encoding-method",
    "fingerprint",
    "ingested-by",
)
OWN_METADATA_PREFIX = "csv-"  # csv-rows, csv-gate, ...: a re-run trusts them, so no user may set them
STORAGE_CLASSES = (
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "OUTPOSTS",
    "EXPRESS_ONEZONE",
)
MAX_TAGS = 10
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
# S3 allows 2 KB of user metadata in all (keys and values, UTF-8 bytes); ours takes up to ~900 bytes
# (a long file name, percent-encoded), so the user gets the rest, rounded down.
MAX_USER_METADATA = 1024
AMZ_META_PREFIX = "x-amz-meta-"
_TAG_TEXT = re.compile(r"[\w +\-=.:/@]*")  # letters, digits, spaces and + - = . _ : / @ (S3's rule)
_METADATA_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")
_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"
_CONTENT_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}( *;[\x20-\x7e]*)?")


def split_pair(option: str, text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"{option} {text!r}: expected KEY=VALUE")
    return key, value


def parse_tags(texts: list[str]) -> tuple[tuple[str, str], ...]:
    """--tag KEY=VALUE, repeatable: S3 object tagging's limits and characters."""
    tags: dict[str, str] = {}
    for text in texts:
        key, value = split_pair("{opt:tags}", text)
        if key in tags:
            raise ValueError(f"{{opt:tags}} {key!r}: given twice")
        if len(key) > MAX_TAG_KEY or len(value) > MAX_TAG_VALUE:
            raise ValueError(
                f"{{opt:tags}} {key!r}: keys up to {MAX_TAG_KEY} characters, values up to {MAX_TAG_VALUE}"
            )
        if not _TAG_TEXT.fullmatch(key) or not _TAG_TEXT.fullmatch(value):
            raise ValueError(f"{{opt:tags}} {text!r}: use letters, digits, spaces and + - = . _ : / @ only")
        if key.lower().startswith("aws:"):
            raise ValueError(f"{{opt:tags}} {key!r}: the aws: prefix is reserved")
        tags[key] = value
    if len(tags) > MAX_TAGS:
        raise ValueError(f"{{opt:tags}}: {len(tags)} tags given, S3 allows {MAX_TAGS} per object")
    return tuple(tags.items())


def parse_metadata(
    texts: list[str], note: Callable[[str], None] | None = None
) -> tuple[tuple[str, str], ...]:
    """--metadata KEY=VALUE, repeatable: ASCII, keys lower-cased (as S3 stores them), never ours.
    A key given with S3's x-amz-meta- prefix (as `aws s3api head-object` shows it) is taken without
    it, which note is told: S3 adds the prefix itself, and would store x-amz-meta-x-amz-meta-KEY."""
    metadata: dict[str, str] = {}
    for text in texts:
        given, value = split_pair("{opt:metadata}", text)
        key = given[len(AMZ_META_PREFIX) :] if given.lower().startswith(AMZ_META_PREFIX) else given
        if not _METADATA_KEY.fullmatch(key):
            raise ValueError(f"{{opt:metadata}} {given!r}: keys are ASCII letters, digits, '.', '_' and '-'")
        if key != given and note is not None:
            note(f"{{opt:metadata}} {given}: stored as {key.lower()} (S3 adds the x-amz-meta- prefix itself)")
        if not _PRINTABLE_ASCII.fullmatch(value):
            raise ValueError(
                f"{{opt:metadata}} {key!r}: the value must be printable ASCII (S3 sends it as a header)"
            )
        key = key.lower()
        if key in OWN_METADATA or key.startswith(OWN_METADATA_PREFIX):  # csv-*: the CSV facts and gate
            raise ValueError(
                f"{{opt:metadata}} {key!r}: async_ingest sets this key itself; choose another name"
            )
        if key in metadata:
            raise ValueError(f"{{opt:metadata}} {key!r}: given twice (keys are case-insensitive)")
        metadata[key] = value
    size = sum(len(k) + len(v) for k, v in metadata.items())
    if size > MAX_USER_METADATA:
        raise ValueError(
            f"{{opt:metadata}}: {size} bytes in all, at most {MAX_USER_METADATA} (S3 allows 2 KB with ours)"
        )
    return tuple(metadata.items())


# A KMS key id, alias or ARN (arn:aws:kms:REGION:ACCOUNT:key/ID, alias/NAME): it goes out as the
# x-amz-server-side-encryption-aws-kms-key-id header, where CR, LF or non-ASCII failed every upload.
_KMS_KEY_ID = re.compile(r"[A-Za-z0-9:/_+=.,@-]+")
MAX_KMS_KEY_ID = 2048


def parse_kms_key_id(text: str) -> str:
    """--sse-kms-key-id: a key id, alias or ARN in the characters AWS uses for them."""
    if not _KMS_KEY_ID.fullmatch(text) or len(text) > MAX_KMS_KEY_ID:
        raise ValueError(
            f"{{opt:sse_kms_key_id}} {text[:80]!r}: expected a KMS key id, alias or ARN "
            "(ASCII letters, digits and :/_-.+=,@ only: no spaces, line breaks or other characters)"
        )
    return text


def parse_storage_class(text: str) -> str:
    name = text.strip().upper()
    if name not in STORAGE_CLASSES:
        raise ValueError(f"{{opt:storage_class}} {text!r}: choose from {', '.join(STORAGE_CLASSES)}")
    return name


def parse_content_type(text: str) -> str:
    if not _CONTENT_TYPE.fullmatch(text):
        raise ValueError(
            f"{{opt:content_type}} {text!r}: expected TYPE/SUBTYPE[; PARAMETERS] in printable ASCII"
        )
    return text
