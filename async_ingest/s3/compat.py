"""Every use of botocore's, aiobotocore's and aiohttp's internals, fenced in one module.

Each patch here buys CPU or memory (the measurement is in its docstring) and none is needed for a
correct run: each checks that the internals it relies on are there and, if not, leaves the dependency
to its public behaviour (no crash, the same endpoints, the same bytes on the wire). The code each one
relies on is hashed in tests/unit/test_compat_patches.py, so a dependency upgrade that changes it fails CI
and the patch is re-checked before users get the new version.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, Protocol

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
# once, so a slice bounds that copy, and each write is one pass through the event loop.
PAYLOAD_SLICE = 1024 * 1024

# The services a run's clients talk to: S3, and those botocore's credential providers call
# (AssumeRole and web identity, SSO and its token refresh, `aws login`).
ENDPOINT_SERVICES = frozenset({"s3", "sts", "sso", "sso-oidc", "signin"})


class PartSource(Protocol):
    """What a part body (transport.PartBody) offers the payload and the stall watchdog."""

    limiter: TokenBucket | None
    paced_until: float

    @property
    def closed(self) -> bool: ...

    def __len__(self) -> int: ...

    def tell(self) -> int: ...

    def seek(self, offset: int, whence: int = ..., /) -> int: ...

    def read(self, size: int | None = ..., /) -> bytes: ...


# --- the endpoint data (memory) ---


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
