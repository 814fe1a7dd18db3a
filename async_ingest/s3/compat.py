"""Every use of botocore's, aiobotocore's and aiohttp's internals, fenced in one module.

Each patch here buys CPU or memory (the measurement is in its docstring) and none is needed for a
correct run: each checks that the internals it relies on are there and, if not, leaves the dependency
to its public behaviour (no crash, the same endpoints, the same bytes on the wire). The code each one
relies on is hashed in tests/unit/test_compat_patches.py, so a dependency upgrade that changes it fails CI
and the patch is re-checked before users get the new version.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

import aioboto3
from aiobotocore.httpsession import AIOHTTPSession
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload
from botocore.exceptions import ReadTimeoutError
from botocore.regions import EndpointResolver

from async_ingest.s3.ratelimit import TokenBucket, slice_size

try:  # botocore >= 1.37.? records each request's features in a context (the User-Agent shows them)
    from botocore.context import get_context as _get_context
except ImportError:  # an older botocore: its User-Agent is left as botocore builds it
    _get_context = None

# Slices written to the connection at a time: the transport copies what the socket does not take at
# once, so a slice bounds that copy, and each write is one pass through the event loop. 256 KiB: with
# 1 MiB slices those copies added ~2 MB to the peak RSS of a loopback run (issue 22), at no CPU cost
# measured either way (128 KiB saved nothing more).
PAYLOAD_SLICE = 256 * 1024

# The services a run's clients talk to: S3, and those botocore's credential providers call
# (AssumeRole and web identity, SSO and its token refresh, `aws login`).
ENDPOINT_SERVICES = frozenset({"s3", "sts", "sso", "sso-oidc", "signin"})


class PartSource(Protocol):
    """What a part body (transport.PartBody) offers the payload and the stall watchdog."""

    limiter: TokenBucket | None
    paced_until: float
    on_sent: Callable[[int], None] | None  # told the bytes written so far, once per slice

    @property
    def closed(self) -> bool: ...

    def __len__(self) -> int: ...

    def tell(self) -> int: ...

    def seek(self, offset: int, whence: int = ..., /) -> int: ...

    def read(self, size: int | None = ..., /) -> bytes: ...


# --- the endpoint data (memory) ---


class LeanSession(aioboto3.Session):  # type: ignore[misc]
    """aioboto3's Session without its default event handlers: they add boto3's conveniences (S3
    upload_file/download_file, resource and DynamoDB/EC2 methods) that async_ingest never calls, and
    the S3 one imports s3transfer, multiprocessing and awscrt.s3 when the client is made (~1.5 MB of
    peak RSS, issue 22). The client's requests are botocore's, with or without them."""

    def _register_default_handlers(self) -> None:
        return None


def install_lean_endpoint_resolver(botocore_session: Any) -> bool:
    """Make the session build its endpoint resolver from the lean data (lean_endpoint_resolver).
    False, and botocore's own resolver (all services, ~6 MB more), when the session has no
    component locator to register it with."""
    components = getattr(botocore_session, "_internal_components", None)
    register = getattr(components, "lazy_register_component", None)
    if not callable(register):
        return False
    register("endpoint_resolver", lambda: lean_endpoint_resolver(botocore_session))
    return True


def lean_endpoint_resolver(botocore_session: Any) -> EndpointResolver:
    """botocore parses endpoints.json, every AWS service in every partition, into ~6 MB of dicts
    that stay for the whole run, though a run needs S3 and the credential services. The resolver
    keeps every partition (regions, DNS suffixes, defaults) with only those services' entries; a
    service without an entry resolves through its partition's defaults, as botocore does for any
    new service. The parsed file is dropped from the loader's cache so its memory goes back.
    Endpoint data of a shape this does not know is used whole, as botocore does."""
    loader = botocore_session.get_component("data_loader")
    lean = lean_endpoints_file(loader)
    if lean is not None:
        return EndpointResolver(lean[0], uses_builtin_data=loader.is_builtin_path(lean[1]))
    endpoints, path = loader.load_data_with_path("endpoints")
    builtin = loader.is_builtin_path(path)
    try:
        partitions = [
            {**p, "services": {k: v for k, v in p["services"].items() if k in ENDPOINT_SERVICES}}
            for p in endpoints["partitions"]
        ]
    except (KeyError, TypeError, AttributeError):
        return EndpointResolver(endpoints, uses_builtin_data=builtin)
    forget_loaded(loader, "endpoints")
    return EndpointResolver({**endpoints, "partitions": partitions}, uses_builtin_data=builtin)


def lean_endpoints_file(loader: Any) -> tuple[dict[str, Any], str] | None:
    """The lean endpoint data read straight from the file the loader would load (the first
    endpoints.json or .json.gz in its search paths), one service at a time: parsing the whole file
    first peaks at ~7 MB of small objects whose memory the allocator keeps for the whole run. None
    when there is no such file or it is not of the expected shape (the caller then parses it whole)."""
    for folder in getattr(loader, "search_paths", ()):
        base = os.path.join(folder, "endpoints")
        for path, opener in ((base + ".json", open), (base + ".json.gz", gzip.open)):
            if os.path.isdir(folder) and os.path.isfile(path):
                try:
                    with opener(path, "rb") as file:
                        text = file.read().decode("utf-8")
                    return _lean_endpoints(text), base
                except (OSError, ValueError, IndexError):
                    return None
    return None


_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_Member = Callable[[str, str, int], tuple[bool, Any, int]]  # (text, key, position): keep, value, end


def _lean_endpoints(text: str) -> dict[str, Any]:
    """endpoints.json with only ENDPOINT_SERVICES in each partition's services, built without the
    others: each value is parsed (and dropped) on its own. ValueError if it is not of that shape."""

    def service(text: str, key: str, at: int) -> tuple[bool, Any, int]:
        value, end = _DECODER.raw_decode(text, at)
        return key in ENDPOINT_SERVICES, value, end

    def partition_member(text: str, key: str, at: int) -> tuple[bool, Any, int]:
        value, end = _json_object(text, at, service) if key == "services" else _DECODER.raw_decode(text, at)
        return True, value, end

    def top(text: str, key: str, at: int) -> tuple[bool, Any, int]:
        if key != "partitions":
            value, end = _DECODER.raw_decode(text, at)
            return True, value, end
        partitions: list[Any] = []
        at = _expect(text, at, "[")
        while text[at] != "]":
            partition, at = _json_object(text, at, partition_member)
            partitions.append(partition)
            at = _SPACE.match(text, at).end()  # type: ignore[union-attr]
            at = _expect(text, at, ",") if text[at] == "," else at
        return True, partitions, at + 1

    data, _ = _json_object(text, _SPACE.match(text, 0).end(), top)  # type: ignore[union-attr]
    if not isinstance(data.get("partitions"), list):
        raise ValueError("endpoint data without partitions")
    return data


def _expect(text: str, at: int, char: str) -> int:
    """The position after char (at `at`, past white space) and the white space after it."""
    at = _SPACE.match(text, at).end()  # type: ignore[union-attr]
    if text[at] != char:
        raise ValueError(f"expected {char!r} at {at}")
    return _SPACE.match(text, at + 1).end()  # type: ignore[union-attr]


def _json_object(text: str, at: int, member: _Member) -> tuple[dict[str, Any], int]:
    """The JSON object at `at`, each member's value parsed by member(), which says whether to keep it."""
    result: dict[str, Any] = {}
    at = _expect(text, at, "{")
    while text[at] != "}":
        key, at = _DECODER.raw_decode(text, at)
        if not isinstance(key, str):
            raise ValueError(f"expected a key at {at}")
        keep, value, at = member(text, key, _expect(text, at, ":"))
        if keep:
            result[key] = value
        at = _SPACE.match(text, at).end()  # type: ignore[union-attr]
        at = _expect(text, at, ",") if text[at] == "," else at
    return result, at + 1


def forget_loaded(loader: Any, name: str) -> None:
    """Drop a parsed data file from botocore's loader cache (botocore.loaders.instance_cache keys it
    on the method name and its arguments); a loader without that dict keeps it."""
    cache = getattr(loader, "_cache", None)
    if isinstance(cache, dict):
        for key in [k for k in cache if isinstance(k, tuple) and name in k]:
            del cache[key]


# --- per-request CPU ---


def cache_endpoints_per_bucket(client: Any) -> None:
    """botocore resolves every request's endpoint through S3's rule set, with a cache keyed on all
    the rule set's parameters, `Key` among them: every new object missed it and paid ~0.3 ms of CPU
    (0.43 ms a lookup against 0.10 cached). No rule reads `Key`, `Prefix` or `CopySource`, so they
    are left out of the lookup and a run resolves once per bucket and operation kind. A parameter
    some future rule set reads stays in; without botocore's resolver nothing changes."""
    resolver = getattr(client, "_ruleset_resolver", None)
    provider = getattr(resolver, "_provider", None)
    resolve = getattr(provider, "resolve_endpoint", None)
    if provider is None or resolve is None:
        return
    try:  # the rule objects' attributes as JSON (~5 ms once): which parameters some rule reads
        rules = json.dumps(getattr(getattr(provider, "ruleset", None), "rules", None) or [], default=vars)
    except (TypeError, ValueError):  # a botocore whose rules cannot be read so: leave its cache alone
        return
    unused = [name for name in ("Key", "Prefix", "CopySource") if f'"ref": "{name}"' not in rules]
    if '"ref"' not in rules or not unused:
        return

    def resolve_endpoint(**params: Any) -> Any:
        for name in unused:
            params.pop(name, None)
        return resolve(**params)

    provider.resolve_endpoint = resolve_endpoint


def cache_user_agent(client: Any) -> None:
    """botocore builds the User-Agent string twice per request, sanitising it character by
    character (~0.25 ms of CPU per request, 7% of a small file's). It depends only on the client
    and on the features the request context has recorded, so it is kept per feature set. Without
    botocore's request context (botocore.context) it is built per request, as botocore does."""
    get_context = _get_context
    creator = getattr(client, "_user_agent_creator", None)
    build = getattr(creator, "to_string", None)
    if get_context is None or creator is None or build is None:
        return
    built: dict[frozenset[str], str] = {}

    def to_string() -> str:
        context = get_context()
        features = frozenset(getattr(context, "features", ()) or ()) if context is not None else frozenset()
        if features not in built:
            built[features] = build()
        return built[features]

    creator.to_string = to_string


# --- request bodies (CPU) and the stall watchdog ---


class PartPayload(Payload):
    """The body of one attempt, written to the connection straight from the part buffer.

    aiohttp sends a file-like body by reading each 256 KiB chunk on an executor thread: 32 thread
    hand-offs per 8 MiB part, which cost a fifth of the client CPU in the bench profile. A part is
    already in memory, so its slices are written from the event loop with no thread at all. Reading
    through the part body keeps its position moving, which the stall watchdog watches. Only
    aiohttp's public Payload interface is used (size, write, write_with_length): the body is kept
    in an attribute of our own, not in aiohttp's _value, and the size is a property, not _size.
    The body's on_sent, if any, is told after each slice how many bytes of this attempt are written
    (one call per slice, never per byte): the terminal bars follow the bytes going out.
    """

    def __init__(self, body: PartSource) -> None:
        super().__init__(body, content_type=None)
        self._part_body = body
        self._part_start = body.tell()
        self._part_length = len(body) - self._part_start

    @property
    def size(self) -> int:
        return self._part_length

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a part body is bytes, not text")

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(self, writer: AbstractStreamWriter, content_length: int | None) -> None:
        body = self._part_body
        body.seek(self._part_start)  # aiohttp itself re-sends a request once if a kept-alive connection died
        remaining = self._part_length if content_length is None else min(content_length, self._part_length)
        limiter = body.limiter
        step = PAYLOAD_SLICE if limiter is None else slice_size(int(limiter.rate), PAYLOAD_SLICE)
        on_sent, sent = body.on_sent, 0
        while remaining > 0:
            chunk = body.read(min(step, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            if limiter is not None:
                wait = limiter.take(len(chunk))
                body.paced_until = time.monotonic() + wait
                await asyncio.sleep(wait)
            await writer.write(chunk)
            if on_sent is not None:
                sent += len(chunk)
                on_sent(sent)


class WatchedHTTPSession(AIOHTTPSession):  # type: ignore[misc]
    """aiohttp starts its read timeout only once a request body is fully written, and waits for a
    '100 Continue' with no timeout at all: a server or network that stops taking a part's bytes (or
    never answers the Expect header) would hang that attempt for good, --read-timeout or not. An
    attempt whose part body has not moved for the read timeout is given up as a read timeout, which
    botocore retries (re-sending the part from memory) like any other.

    The limit and the body type are class attributes set by watched_session_class (aiobotocore
    keeps the timeout it was given in a private attribute, so it is not read back from there)."""

    stall_limit_s: float = 60.0
    body_type: type[Any] = type(None)

    async def send(self, request: Any) -> Any:
        body = request.body
        if not isinstance(body, self.body_type):
            return await super().send(request)
        limit = self.stall_limit_s
        # This attempt writes a payload over the body; botocore rewinds the part body itself (the
        # request's body again after the attempt) before a retry.
        request.body = PartPayload(body)
        attempt = asyncio.ensure_future(super().send(request))
        position, moved = -1, time.monotonic()
        try:
            while True:
                done, _ = await asyncio.wait({attempt}, timeout=min(1.0, limit / 4))
                if done:
                    return attempt.result()
                if body.closed or body.tell() != position:
                    position, moved = (-1 if body.closed else body.tell()), time.monotonic()
                elif time.monotonic() - max(moved, body.paced_until) > limit:  # our own pacing is no stall
                    raise ReadTimeoutError(endpoint_url=request.url, error="the request body stalled")
        finally:
            if not attempt.done():
                attempt.cancel()
                await asyncio.gather(attempt, return_exceptions=True)
            request.body = body


def watched_session_class(read_timeout_s: float, body_type: type[Any]) -> type[AIOHTTPSession]:
    """The http_session_cls for AioConfig: bodies of body_type are sent as a PartPayload under the
    stall watchdog (read_timeout_s without progress); any other body goes through aiobotocore's
    own session untouched."""
    attributes: dict[str, Callable[..., Any] | float | type[Any]] = {
        "stall_limit_s": float(read_timeout_s),
        "body_type": body_type,
    }
    return type("WatchedHTTPSession", (WatchedHTTPSession,), attributes)
