"""The S3 side's plain parts, without botocore: connection settings and credentials, the checks of
names and URLs made before any request, the error every S3 failure becomes, and the records the S3
face returns. A dry run, --help and option errors need nothing more, so they never load botocore,
aiohttp or the CRT (~0.4 s of CPU)."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from async_ingest.s3.checksums import StoredChecksum

READ_TIMEOUT_S = 120
# Bucket names (S3 general purpose rules): 3-63 chars, lower-case letters, digits, dots, hyphens.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_LIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
# botocore's own rule for region names (it raises InvalidRegionError on others when the client is made).
_REGION_RE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")
_HOST_RE = re.compile(r"^[A-Za-z0-9._-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_URL_USERINFO = re.compile(r"(?<=//)[^/@\s]*@")  # "user:password@" after a scheme's "//"
CREDENTIALS_FILE_MAX = 64 * 1024  # bytes read at most from --credentials-file (a real one is < 1 KiB)
PERMISSION_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden"}


@dataclass(frozen=True)
class StoredObject:
    """What the server answers for an object that now exists."""

    etag: str
    checksum: StoredChecksum | None = None


@dataclass(frozen=True, slots=True)
class Listed:
    """What a listing tells of one object."""

    etag: str
    algorithms: str  # its checksum algorithms, space-separated ("" where the store lists none)


class S3Error(RuntimeError):
    """An S3 request failed; the message is one line and never carries credentials."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code

    @property
    def is_permission(self) -> bool:
        return self.code in PERMISSION_CODES


def validate_region(name: str) -> None:
    if not _REGION_RE.match(name):
        raise ValueError(f"invalid region {name!r}: expected letters, digits and hyphens, e.g. eu-west-1")


def validate_endpoint_url(url: str, origin: str) -> str:
    """Refuse an endpoint URL botocore/aiohttp would fail on obscurely, or that carries a password.
    The messages never repeat the URL (nor any part of it): it may hold credentials."""
    problem = _endpoint_problem(url)
    if problem:
        raise ValueError(f"{origin}: {problem}")
    return url


def _endpoint_problem(url: str) -> str:
    authority = re.split(r"[/?#]", url.split("://", 1)[-1], maxsplit=1)[0]  # also when "//" is missing
    if "@" in authority:
        return (
            "must not contain a user name or password; give credentials with {opt:credentials_file}, "
            "{opt:profile} or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    if " " in url or _CONTROL.search(url):
        return "contains spaces or control characters (expected http(s)://HOST[:PORT])"
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when not a number in 0-65535
    except ValueError:
        return "not a valid URL: expected http(s)://HOST[:PORT], the port a number 1-65535"
    if parts.scheme.lower() not in ("http", "https"):
        return "the scheme must be http or https (expected http(s)://HOST[:PORT])"
    host = parts.hostname or ""
    if not host or not (_HOST_RE.match(host) or _is_ipv6(host)):
        return "no valid host name (expected http(s)://HOST[:PORT])"
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        return "the port must be a number 1-65535 (expected http(s)://HOST[:PORT])"
    if "?" in url or "#" in url:
        return "must not have a query (?...) or fragment (#...)"
    return ""


def _is_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


def redact_url_credentials(text: str) -> str:
    """Library messages may quote an endpoint URL as configured (e.g. in an AWS config file)."""
    return _URL_USERINFO.sub("***@", text)


def validate_bucket_name(name: str) -> None:
    problem = ""
    if not _BUCKET_RE.match(name):
        problem = (
            "use 3-63 lower-case letters, digits, dots or hyphens, starting and ending with a letter/digit"
        )
    elif ".." in name or ".-" in name or "-." in name:
        problem = "no adjacent dots or dots next to hyphens"
    elif _IP_LIKE.match(name):
        problem = "must not look like an IP address"
    elif name.startswith("xn--") or name.endswith("-s3alias"):
        problem = "reserved prefix or suffix"
    if problem:
        raise ValueError(f"invalid bucket name {name!r}: {problem}")


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never show the secret, even in a debugger or a traceback
        return f"Credentials(access_key_id={self.access_key_id[:4]}..., secret_access_key=***)"


def load_credentials_file(path: Path) -> Credentials:
    """The team's JSON credentials file: aws_access_key_id, aws_secret_access_key, aws_session_token?"""
    try:
        data = json.loads(_read_credentials_file(path).decode("utf-8"))
    except FileNotFoundError:
        raise ValueError(f"credentials file {path}: not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"credentials file {path}: cannot read ({type(exc).__name__})") from None
    except json.JSONDecodeError as exc:
        # Do not echo the content: it holds secrets.
        raise ValueError(f"credentials file {path}: not valid JSON (line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"credentials file {path}: expected a JSON object")
    missing = [k for k in ("aws_access_key_id", "aws_secret_access_key") if data.get(k) in (None, "")]
    if missing:
        raise ValueError(f"credentials file {path}: missing {', '.join(missing)}")
    for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
        value = data.get(name)
        # Never echo the value. A control character would end up in a request header.
        if value is not None and (not isinstance(value, str) or _CONTROL.search(value)):
            raise ValueError(f"credentials file {path}: {name} must be a string without control characters")
    token = data.get("aws_session_token") or None
    return Credentials(data["aws_access_key_id"], data["aws_secret_access_key"], token)


def _read_credentials_file(path: Path, limit: int = CREDENTIALS_FILE_MAX) -> bytes:
    """A regular file of at most limit bytes. Opened non-blocking, so a FIFO does not hang the open,
    then refused by fstat like a device (/dev/zero would be read without end)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"credentials file {path}: not a regular file")
        with open(fd, "rb", closefd=False) as reader:
            data = reader.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ValueError(f"credentials file {path}: larger than {limit // 1024} KiB, not a credentials file")
    return data


def credentials_file_too_open(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o077)


@dataclass(frozen=True)
class ConnectionSettings:
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    credentials: Credentials | None = None
    max_connections: int = 10
    max_attempts: int = 5
    read_timeout_s: float = READ_TIMEOUT_S
