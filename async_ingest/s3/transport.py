"""How requests to S3 travel: the session (credentials, profile, a lean botocore session), the client's
configuration (timeouts, retries, connection pool, checksums, addressing), the request body that hands a
part buffer to aiohttp without copying it, and the --bwlimit limiter.

client.py makes the calls (and opens the client with open_s3); compat.py holds every patch of the
dependencies' internals that these use.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore import utils as botocore_utils

from async_ingest.s3.compat import (
    PAYLOAD_SLICE,
    LeanSession,
    install_lean_endpoint_resolver,
    watched_session_class,
)
from async_ingest.s3.model import READ_TIMEOUT_S, ConnectionSettings
from async_ingest.s3.ratelimit import TokenBucket, slice_size

Body = bytes | bytearray | memoryview  # a part: a whole buffer or the start of one
SentCallback = Callable[[int], None]  # a body's bytes written so far in this attempt, once per slice
DEFAULT_REGION = "us-east-1"
CONNECT_TIMEOUT_S = 10


class PartBody(io.RawIOBase):
    """A read-only, seekable view of a part buffer, handed to botocore as the request body.

    Given bytes, botocore wraps them in BytesIO and aiohttp then calls getbuffer(), which copies
    the whole part; a bytearray would be copied into the socket transport's buffer instead. Read
    through this view, aiohttp streams the part in small chunks and nothing is copied whole.
    Seekable, so a retried request re-sends the same bytes from memory.
    """

    def __init__(
        self, data: Body, limiter: TokenBucket | None = None, on_sent: SentCallback | None = None
    ) -> None:
        super().__init__()
        self._view = memoryview(data).toreadonly()
        self._position = 0
        self.limiter = limiter  # --bwlimit, shared by every body of the process
        self.paced_until = 0.0  # monotonic end of the current wait for --bwlimit: not a stall
        self.on_sent = on_sent  # compat.PartPayload tells it the bytes written after each slice

    def __len__(self) -> int:
        return len(self._view)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}[whence]
        self._position = min(max(0, base + offset), len(self._view))
        return self._position

    def readinto(self, buffer: Any) -> int:
        chunk = self._view[self._position : self._position + len(buffer)]
        buffer[: len(chunk)] = chunk
        self._position += len(chunk)
        return len(chunk)

    def close(self) -> None:
        """Let go of the part buffer: the HTTP stack may keep this object alive after the request
        (measured: parts outlived their requests), but it must not keep the part's memory."""
        with contextlib.suppress(BufferError):  # a slice still exported: dropping the view is enough
            self._view.release()
        self._view = memoryview(b"")
        self._position = 0
        super().close()

    def read(self, size: int | None = -1) -> bytes:
        """A slice of the part, not a copy: aiohttp writes it straight to the socket. (Typed bytes for
        the io interface; every consumer here only needs the buffer protocol.)"""
        end = len(self._view) if size is None or size < 0 else self._position + size
        chunk = self._view[self._position : end]
        self._position += len(chunk)
        return chunk  # type: ignore[return-value]


def make_session(settings: ConnectionSettings) -> aioboto3.Session:
    kwargs: dict[str, Any] = {}
    if settings.credentials is not None:
        kwargs.update(
            aws_access_key_id=settings.credentials.access_key_id,
            aws_secret_access_key=settings.credentials.secret_access_key,
            aws_session_token=settings.credentials.session_token,
        )
    if settings.profile:
        kwargs["profile_name"] = settings.profile
    # The botocore session is made here and handed over (a public argument), so it is at hand
    # without aioboto3's private attribute.
    botocore_session = get_session()
    botocore_session.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=parse_timestamp
    )
    install_lean_endpoint_resolver(botocore_session)
    return LeanSession(botocore_session=botocore_session, **kwargs)


def parse_timestamp(text: str) -> Any:
    """botocore's timestamp parser goes through dateutil: ~0.3 ms per timestamp, 6 s for the
    LastModified of 20,000 listed objects. The ISO 8601 form S3 uses in XML bodies parses in ~1 us
    with datetime; anything else (HTTP dates in headers) still goes to botocore."""
    if isinstance(text, str) and "T" in text:
        with contextlib.suppress(ValueError):
            return dt.datetime.fromisoformat(text)
    return botocore_utils.parse_timestamp(text)


def resolve_region(session: aioboto3.Session, settings: ConnectionSettings) -> str:
    return settings.region or session.region_name or DEFAULT_REGION


def client_config(settings: ConnectionSettings) -> AioConfig:
    return AioConfig(
        http_session_cls=watched_session_class(settings.read_timeout_s or READ_TIMEOUT_S, PartBody),
        max_pool_connections=settings.max_connections,
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=settings.read_timeout_s,
        # botocore's standard mode: exponential backoff with jitter on throttling, 5xx and
        # connection errors; bodies are bytes in memory, so a retried part is re-sent exactly.
        # total_max_attempts counts the first attempt, as --max-attempts does; botocore's own
        # "max_attempts" key counts retries only (its N meant N + 1 requests).
        retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
        # We send each body's checksum ourselves (x-amz-checksum-*, or Content-MD5 with --checksum
        # md5). botocore >= 1.36 would otherwise add CRC32 trailers (aws-chunked) that several
        # S3-compatible servers reject or store wrongly.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        # Every call's parameters are built here from checked settings; botocore's check of them
        # against the model cost ~0.2 ms per request (5% of a small file's CPU).
        parameter_validation=False,
        s3={
            # S3-compatible servers behind an endpoint URL rarely do virtual-hosted buckets.
            "addressing_style": "path" if settings.endpoint_url else "auto",
            # Bodies are protected by their checksum, which the server verifies; signing their SHA-256
            # too (botocore does over plain http) would hash every byte once more (bench profile).
            "payload_signing_enabled": False,
        },
    )


def bandwidth_limiter(bwlimit: int | None) -> TokenBucket | None:
    """--bwlimit bytes per second across all uploads; bursts of one body slice at most."""
    if bwlimit is None:
        return None
    return TokenBucket(rate=bwlimit, burst=slice_size(bwlimit, PAYLOAD_SLICE))
