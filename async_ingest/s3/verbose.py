"""--verbose: one event per HTTP request to S3 (operation, key, part, status, request id, duration)
and one per retry with its cause, taken from botocore's public event hooks on our own client.

Only fields chosen here leave the hooks: the operation's name, the Key and PartNumber parameters, the
HTTP status, the S3 error code, the x-amz-request-id / x-amz-id-2 values and timings. Headers, URLs,
query strings, signatures and credentials are never read, so they can never be printed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from async_ingest.events import Event, RequestDone, RequestRetried

_STATE = "async_ingest_verbose"  # our entry in botocore's per-call context dict
log = logging.getLogger("async_ingest")


@dataclass
class _Call:
    """One API call, across its attempts."""

    operation: str
    key: str
    part: int | None
    started: float = 0.0
    cause: str = ""  # what the last attempt ended with (the reason of a retry that follows)


class RequestWatcher:
    """The three hooks of one client; emit receives RequestDone and RequestRetried events on the
    event loop's thread (aiobotocore runs the hooks there)."""

    def __init__(self, emit: Callable[[Event], None], max_attempts: int) -> None:
        self.emit = emit
        self.max_attempts = max_attempts

    def register(self, events: Any) -> None:
        events.register("before-parameter-build.s3", self.on_params)
        events.register("request-created.s3", self.on_request)
        events.register("response-received.s3", self.on_response)

    def on_params(self, params: Mapping[str, Any], model: Any = None, context: Any = None, **_: Any) -> None:
        if context is None or model is None:
            return
        part = params.get("PartNumber")
        context[_STATE] = _Call(
            operation=str(model.name),
            key=str(params.get("Key") or ""),
            part=part if isinstance(part, int) else None,
        )

    def on_request(self, request: Any = None, **_: Any) -> None:
        """Each attempt's request is created (and signed) here: a retry when it is not the first."""
        context = getattr(request, "context", None) or {}
        call = context.get(_STATE)
        if not isinstance(call, _Call):
            return
        attempt = int(context.get("retries", {}).get("attempt", 1))
        if attempt > 1:
            self._send(
                RequestRetried(call.operation, call.key, call.part, attempt, self.max_attempts, call.cause)
            )
        call.started = time.monotonic()

    def on_response(
        self,
        context: Any = None,
        parsed_response: Mapping[str, Any] | None = None,
        exception: BaseException | None = None,
        **_: Any,
    ) -> None:
        call = (context or {}).get(_STATE)
        if not isinstance(call, _Call):
            return
        seconds = time.monotonic() - call.started if call.started else 0.0
        attempt = int(context.get("retries", {}).get("attempt", 1))
        if parsed_response is None:  # no answer: a connection error, a timeout
            error = type(exception).__name__ if exception is not None else "NoResponse"
            call.cause = error
            self._send(
                RequestDone(call.operation, call.key, call.part, attempt, None, error, "", "", seconds)
            )
            return
        metadata = parsed_response.get("ResponseMetadata", {})
        status = metadata.get("HTTPStatusCode")
        code = str(parsed_response.get("Error", {}).get("Code") or "")
        code = "" if code == str(status) else code  # a HEAD's error has no body: botocore repeats the status
        call.cause = f"{status} {code}".strip()
        self._send(
            RequestDone(
                call.operation,
                call.key,
                call.part,
                attempt,
                int(status) if isinstance(status, int) else None,
                code,
                str(metadata.get("RequestId") or ""),
                str(metadata.get("HostId") or ""),
                seconds,
            )
        )

    def _send(self, event: Event) -> None:
        try:
            self.emit(event)
        except Exception:  # a printer's bug must not fail the request
            log.exception("printing a request line failed")


def watch_requests(client: Any, emit: Callable[[Event], None], max_attempts: int) -> None:
    """Emit an event per request and per retry of this client (its own event hooks: other clients
    of the process are left alone)."""
    RequestWatcher(emit, max_attempts).register(client.meta.events)
