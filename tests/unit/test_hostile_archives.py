"""Hostile and mislabelled compressed sources and zip archives, end to end against the real SeaweedFS:
what lands (nothing, for the refused file), the exit code, the one-line message, no open upload, and
memory that stays bounded (the child's peak RSS) while a bomb is refused."""

from __future__ import annotations

import pytest

from async_ingest.pipeline.parts import MAX_EXPANDED_CEILING, fitting_source_size, plan_part_size

pytestmark = pytest.mark.slow  # runs of the command: not in the quick subset

MiB = 1 << 20


def test_parts_of_a_compressed_source_are_planned_within_the_memory_budget() -> None:
    """The bound a run with --max-memory 16MiB (a 14 MiB part budget) uses for a huge
    --max-expanded-size: parts planned for it fit the budget, and UTF-8 gets 3x the room."""
    bound = fitting_source_size("cp1252", 14 * MiB)
    assert plan_part_size(bound, "cp1252") == 14 * MiB
    assert fitting_source_size("utf-8", 14 * MiB) == 14 * MiB * 10_000
    assert plan_part_size(MAX_EXPANDED_CEILING, "cp1252") == 5 << 30
