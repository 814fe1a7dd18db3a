"""How soon an upload reaches its steady throughput, from async_ingest's ``--log-format json`` events.

Each ``part_uploaded`` record carries ``t`` (seconds since the tool started) and ``size`` (UTF-8 bytes
of the part). From the part acknowledgements of one file:

* steady throughput: bytes acknowledged per second between the moments 50% and 90% of the bytes are
  acknowledged (the middle of the upload, after the start and before the tail);
* convergence: the rolling throughput at each acknowledgement is taken over the last 8 parts or the
  last 1 s, whichever is shorter (the file's start counts as a point with 0 bytes, and nothing is
  measured before the first window is full: a fraction of 8 parts or 1 s is the earliest); the upload has
  converged at the first acknowledgement where it reaches 90% of steady. Reported as the fraction of
  the bytes acknowledged by then, and the seconds since the file started.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

WINDOW_S = 1.0
WINDOW_PARTS = 8
LEVEL = 0.9
MIN_PARTS = 4  # fewer parts say nothing about a ramp


@dataclass(frozen=True)
class Convergence:
    steady_bps: float  # bytes per second over the 50%-90% span
    fraction: float  # of the bytes acknowledged when the rolling throughput first reached LEVEL x steady
    seconds: float  # from the file's start to that moment
    parts: int


@dataclass(frozen=True)
class PartTimes:
    """One file's start and its part acknowledgements (seconds, bytes) in order of time."""

    start: float
    parts: Sequence[tuple[float, int]]


def read_events(lines: Iterable[str]) -> PartTimes | None:
    """The part events of a single-file run's JSON log; None without a timed start and parts, or when
    the log holds several files. Lines that are not JSON objects (other output) are skipped."""
    start: float | None = None
    sources: set[str] = set()
    parts: list[tuple[float, int]] = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or "t" not in record:
            continue
        if record.get("event") == "file_started":
            start = float(record["t"]) if start is None else start
            sources.add(str(record.get("source")))
        elif record.get("event") == "part_uploaded":
            parts.append((float(record["t"]), int(record["size"])))
    if start is None or len(sources) != 1 or not parts:
        return None
    return PartTimes(start, sorted(parts))


def _first_at(points: Sequence[tuple[float, int]], level: float) -> tuple[float, int]:
    return next(p for p in points if p[1] >= level)


def analyse(
    events: PartTimes, window_s: float = WINDOW_S, window_parts: int = WINDOW_PARTS, level: float = LEVEL
) -> Convergence | None:
    """None when there are too few parts, or the middle of the upload has no duration."""
    if len(events.parts) < MIN_PARTS:
        return None
    points = [(events.start, 0)]
    for t, size in events.parts:
        points.append((t, points[-1][1] + size))
    total = points[-1][1]
    (t50, b50), (t90, b90) = _first_at(points, total * 0.5), _first_at(points, total * 0.9)
    if t90 <= t50:
        return None
    steady = (b90 - b50) / (t90 - t50)
    for i in range(1, len(points)):
        t, acked = points[i]
        j = max(i - window_parts, _last_before(points, i, t - window_s))
        if j < 0 or points[j][0] >= t:
            continue  # the window is not full yet, or the span has no duration
        rate = (acked - points[j][1]) / (t - points[j][0])
        if rate >= level * steady:
            return Convergence(steady, acked / total, t - events.start, len(events.parts))
    return Convergence(steady, 1.0, points[-1][0] - events.start, len(events.parts))


def _last_before(points: Sequence[tuple[float, int]], i: int, when: float) -> int:
    """The last index before i whose time is at or before `when` (-1: none)."""
    j = i - 1
    while j >= 0 and points[j][0] > when:
        j -= 1
    return j
