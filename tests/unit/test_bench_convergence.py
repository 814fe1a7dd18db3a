"""bench/convergence.py: steady throughput and when an upload reaches it, from JSON log events."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from convergence import PartTimes, analyse, read_events

PART = 8_000_000


def uniform(rate: float, parts: int, start: float = 0.5, at: float = 0.0) -> list[tuple[float, int]]:
    """Parts acknowledged one after another at a constant rate, from `at` seconds after start."""
    return [(start + at + (i + 1) * PART / rate, PART) for i in range(parts)]


def test_a_constant_rate_converges_at_once() -> None:
    result = analyse(PartTimes(0.5, uniform(24e6, 32)))
    assert result is not None
    assert result.steady_bps == pytest.approx(24e6)
    assert result.parts == 32
    # the first full window (1 s: 3 parts) already runs at the rate
    assert result.fraction == pytest.approx(3 / 32)
    assert result.seconds == pytest.approx(3 * PART / 24e6)


def test_a_slow_start_converges_after_the_ramp() -> None:
    slow = uniform(6e6, 8)  # 8 parts at a quarter of the rate: a window growing
    last = slow[-1][0]
    fast = [(last + (i + 1) * PART / 24e6, PART) for i in range(24)]
    result = analyse(PartTimes(0.5, slow + fast))
    assert result is not None
    assert result.steady_bps == pytest.approx(24e6)
    # rolling over the shorter of 8 parts or 1 s: 3 fast parts span 1 s, 90% needs a few more
    assert 8 / 32 < result.fraction < 14 / 32
    assert result.seconds > 8 * PART / 6e6


def test_parts_acknowledged_in_bursts_still_measure_the_rate() -> None:
    # 4 parts in flight at 6 MB/s each: they arrive together every PART / 6e6 seconds
    bursts = [(0.1 + (k + 1) * PART / 6e6, PART) for k in range(10) for _ in range(4)]
    result = analyse(PartTimes(0.0, bursts))
    assert result is not None
    assert result.steady_bps == pytest.approx(24e6, rel=0.3)  # burst edges make the middle span coarse
    assert result.fraction <= 8 / 40


def test_too_few_parts_or_no_middle_span_give_nothing() -> None:
    assert analyse(PartTimes(0.0, uniform(10e6, 3))) is None
    assert analyse(PartTimes(0.0, [(1.0, PART)] * 10)) is None  # all at once


def test_read_events_takes_the_part_events_of_one_file() -> None:
    lines = [
        "some text line",
        json.dumps({"event": "file_started", "source": "a.csv", "size": 3, "t": 0.25}),
        json.dumps({"event": "part_uploaded", "source": "a.csv", "part": 2, "size": 5, "t": 2.0}),
        json.dumps({"event": "part_uploaded", "source": "a.csv", "part": 1, "size": 7, "t": 1.5}),
        json.dumps({"event": "summary", "t": 2.5}),
        "[1, 2]",
    ]
    assert read_events(lines) == PartTimes(0.25, [(1.5, 7), (2.0, 5)])


def test_read_events_refuses_logs_without_times_or_with_several_files() -> None:
    untimed = [json.dumps({"event": "file_started", "source": "a"}), json.dumps({"event": "part_uploaded"})]
    assert read_events(untimed) is None
    two = [json.dumps({"event": "file_started", "source": s, "t": 0}) for s in ("a", "b")] + [
        json.dumps({"event": "part_uploaded", "source": "a", "size": 1, "t": 1})
    ]
    assert read_events(two) is None
    assert read_events([]) is None
