"""--verbose: the words of one S3 request or retry, as a text line and as a JSON record. The events
hold only what is safe to show (s3/verbose.py): no header, URL, signature or credential."""

from __future__ import annotations

from typing import Any

from async_ingest.events import RequestDone, RequestRetried
from async_ingest.output.display import json_safe


def _target(operation: str, key: str, part: int | None) -> str:
    text = operation + (f" {key}" if key else "")
    return text + (f" part {part}" if part is not None else "")


def request_line(event: RequestDone | RequestRetried) -> str:
    """e.g. `request UploadPart raw/a.csv part 3: 200 in 0.12 s  request-id=... host-id=...`,
    `retry UploadPart raw/a.csv part 3: attempt 2 of 5 after 503 SlowDown`."""
    target = _target(event.operation, event.key, event.part)
    if isinstance(event, RequestRetried):
        return f"retry   {target}: attempt {event.attempt} of {event.max_attempts} after {event.cause}"
    if event.status is None:
        outcome = f"no answer ({event.error})"
    else:
        outcome = f"{event.status}{' ' + event.error if event.error else ''}"
    line = f"request {target}: {outcome} in {event.seconds:.3f} s"
    if event.attempt > 1:
        line += f" (attempt {event.attempt})"
    ids = [f"request-id={event.request_id}"] if event.request_id else []
    ids += [f"host-id={event.host_id}"] if event.host_id else []
    return line + ("  " + " ".join(ids) if ids else "")


def request_record(event: RequestDone | RequestRetried) -> dict[str, Any]:
    """The same as one JSON object (--log-format json)."""
    record: dict[str, Any] = {
        "operation": event.operation,
        "key": json_safe(event.key),
        "part": event.part,
        "attempt": event.attempt,
    }
    if isinstance(event, RequestRetried):
        return {"event": "request_retry", **record, "max_attempts": event.max_attempts, "cause": event.cause}
    return {
        "event": "request",
        **record,
        "status": event.status,
        "error": event.error or None,
        "request_id": event.request_id or None,
        "host_id": event.host_id or None,
        "seconds": round(event.seconds, 3),
    }
