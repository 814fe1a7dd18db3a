"""The command as a user runs it (a separate process) against the session's SeaweedFS."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import cli_env, run_cli


def test_a_misspelled_variable_is_warned_about_and_the_known_others_are_not(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("a,b\n1,2\n")
    env = cli_env(None, ASYNC_INGEST_BUKET="x", ASYNC_INGEST_SHARD_COUNT="1", ASYNC_INGEST_NO_EXTENSIONS="0")
    result = run_cli(tmp_path, "--bucket", "my-bucket", "-n", env=env)
    assert result.returncode == 0, result.output
    assert result.stderr.count("\n") == 1  # one warning line, about the misspelled one only
    assert "ASYNC_INGEST_BUKET is not an async-ingest variable" in result.stderr
    assert "did you mean ASYNC_INGEST_BUCKET?" in result.stderr


def test_a_misspelled_option_names_the_one_meant(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--dryrun", "--bucket", "my-bucket")
    assert result.returncode == 2
    assert result.stderr == "async-ingest: error: unrecognized arguments: --dryrun; did you mean --dry-run?\n"
