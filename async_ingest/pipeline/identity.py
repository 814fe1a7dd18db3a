"""What a source becomes in the bucket: its key, the metadata and request arguments of its object,
and the fingerprint a re-run compares (skip.py)."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

from async_ingest import __version__
from async_ingest.keys import InvalidKey, KeyFields, render_key
from async_ingest.settings import IngestSettings
from async_ingest.sources.files import SourceFile
from async_ingest.transform.detect import Detection


def fingerprint(source: SourceFile, windows: list[bytes], settings: IngestSettings) -> str:
    """Cheap identity of a source and of the options that shape its object: size, mtime, the sampled
    bytes, the checksum algorithm. Stored in the object's metadata; a re-run with the same fingerprint
    skips the file, so an object stored with another checksum is uploaded again."""
    digest = hashlib.sha256()
    digest.update(f"{source.size}|{source.mtime_ns}|{settings.encoding}|{settings.on_decode_error}|".encode())
    if settings.checksum != "md5":  # md5 objects keep the fingerprints of the versions before --checksum
        digest.update(f"checksum={settings.checksum}|".encode())
    if settings.compress.name != "none":  # uncompressed objects keep their earlier fingerprints
        digest.update(f"compress={settings.compress.name}:{settings.compress.level}|".encode())
    for window in windows:
        digest.update(hashlib.sha256(window).digest())
    digest.update(object_options_identity(settings))
    return digest.hexdigest()[:32]


def object_options_identity(settings: IngestSettings) -> bytes:
    """The object options, for the fingerprint: a re-run with other tags, metadata, storage class or
    content type uploads again. Nothing without them, so earlier fingerprints still match."""
    options = (settings.tags, settings.metadata, settings.storage_class, settings.content_type)
    if options == ((), (), None, None):
        return b""
    return repr(options).encode()


def object_extra(
    source: SourceFile, detection: Detection, fp: str, settings: IngestSettings
) -> dict[str, Any]:
    """PutObject/CreateMultipartUpload arguments besides the body. Metadata must be ASCII."""
    metadata = dict(settings.metadata)  # the user's, checked not to use our keys
    metadata |= {
        # The name's own bytes (a name that is not UTF-8 too), percent-encoded: reversible, ASCII.
        "source-name": quote(os.fsencode(key_name(source)), safe=""),
        "source-size": str(source.size) if source.size_known else "unknown",
        "source-mtime-ns": str(source.mtime_ns),
        "source-encoding": detection.encoding,
        "encoding-method": detection.method,
        "fingerprint": fp,
        "ingested-by": f"async_ingest/{__version__}",
    }
    compress = settings.compress
    if compress.content_type is not None:
        metadata["compression"] = compress.name
    extra: dict[str, Any] = {"Metadata": metadata}
    if compress.content_type is not None and not settings.content_type:
        extra["ContentType"] = compress.content_type
    if settings.sse:
        extra["ServerSideEncryption"] = settings.sse
    if settings.sse_kms_key_id:
        extra["SSEKMSKeyId"] = settings.sse_kms_key_id
    extra |= object_options(settings)
    return extra


def object_options(settings: IngestSettings) -> dict[str, Any]:
    """--tag, --storage-class, --content-type as request arguments (tags URL-encoded, as S3 wants)."""
    options: dict[str, Any] = {}
    if settings.tags:
        options["Tagging"] = urlencode(settings.tags, quote_via=quote)
    if settings.storage_class:
        options["StorageClass"] = settings.storage_class
    if settings.content_type:
        options["ContentType"] = settings.content_type
    return options


def key_plan(sources: list[SourceFile], settings: IngestSettings) -> Iterator[tuple[SourceFile, str]]:
    """Each source with its key; a source whose key is invalid is left out (it fails on its turn)."""
    for source in sources:
        with contextlib.suppress(InvalidKey):
            yield source, object_key(source, settings)


def object_key(source: SourceFile, settings: IngestSettings) -> str:
    """The rendered key, with the suffix of --compress (movies.csv.gz)."""
    return render_key(settings.key_template, source_key_fields(source, settings)) + settings.compress.suffix


def source_key_fields(source: SourceFile, settings: IngestSettings) -> KeyFields:
    return KeyFields(key_name(source), source.reldir, settings.date)


def key_name(source: SourceFile) -> str:
    """The file name the key and the metadata carry (standard input's is --name; a compressed
    source's is its CSV's own name: movies.csv.gz -> movies.csv)."""
    return source.key_name
