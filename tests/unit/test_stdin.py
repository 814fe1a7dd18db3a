"""SOURCE - (issue 14, item 2): standard input through a real pipe, multipart-sized, against SeaweedFS."""

from __future__ import annotations

import pytest

from tests.conftest import cli_env, run_cli

pytestmark = pytest.mark.slow  # runs of the command: not in the quick subset


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-", "--bucket", "bkt"], "- reads standard input: give --name NAME"),
        (
            ["data/", "--name", "x.csv", "--bucket", "my-bucket"],
            "--name names standard input: give - as SOURCE",
        ),
        (["-", "-", "--name", "x.csv", "--bucket", "bkt"], "- (standard input) given more than once"),
        (["-", "--name", "a/x.csv", "--bucket", "bkt"], "--name 'a/x.csv': expected a file name"),
    ],
)
def test_stdin_usage_errors(args: list[str], message: str) -> None:
    result = run_cli(*args, env=cli_env("http://127.0.0.1:9"))
    assert result.returncode == 2 and message in result.stderr, result.stderr
