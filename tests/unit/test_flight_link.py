"""Parts in flight follow the link, end to end: a real upload through the bench's link emulator to
SeaweedFS. What is asserted is observable behaviour (the proxy's concurrent connections, the JSON
events, the object's bytes), never a timing: speed is the bench's job."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))


pytestmark = pytest.mark.slow  # runs of the command: not in the quick subset


@pytest.mark.parametrize("value", ["0", "-1", "many", "1001"])
def test_bad_parts_in_flight_is_a_usage_error(value: str, tmp_path: Path) -> None:
    source = tmp_path / "movies.csv"
    source.write_bytes(b"a,b\n1,2\n")
    result = run_cli(source, "--bucket", "b-any", "--parts-in-flight", value, "--dry-run")
    assert result.returncode == 2
    assert "--parts-in-flight" in result.stderr and "Traceback" not in result.stderr
