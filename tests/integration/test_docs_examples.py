"""The README's and docs' examples are what the tool does: the documented commands are run on the
sample data (data/) as a new user runs them after the quick start, and every documented output line
(file lines with their checksum and CSV fields, the manifest line, the summary, the plan) must be
one the run printed. Only what changes from run to run is normalised: the date, run id, port,
seconds, throughput and bucket."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from async_ingest.s3.local import LocalS3Server
from tests.conftest import REPO
from tests.unit.test_docs_examples import command, new_user_env

CODE_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def _own_server_block() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index("### Your own S3-compatible server") :]
    return code_blocks_text(section)[0]


def code_blocks_text(text: str) -> list[str]:
    return [body for _, body in CODE_BLOCK.findall(text)]


def test_the_own_server_weed_command_has_the_flags_that_keep_volumes_available() -> None:
    block = _own_server_block()
    weed = " ".join(block.split("\\\n")).splitlines()[0]
    ours = LocalS3Server(Path("/tmp/unused")).command()
    for flag in ("-master.volumeSizeLimitMB=1024", "-volume.max=100", "-s3", "-ip.bind=127.0.0.1"):
        assert flag in ours and flag in weed.split(), flag


@pytest.mark.slow
def test_the_own_server_example_runs_with_its_placeholder_credentials(
    s3_server: LocalS3Server, s3: Any, tmp_path: Path
) -> None:
    """The README's `export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...` and `--endpoint-url`
    line, against the test server (its port instead of 8333); without the export it is exit 2."""
    lines = _own_server_block().splitlines()
    exported = dict(
        word.split("=", 1)
        for word in next(x for x in lines if x.startswith("export ")).split("#")[0].split()[1:]
    )
    ingest = next(x for x in lines if x.startswith("async-ingest "))
    argv = command(ingest.replace("http://127.0.0.1:8333", s3_server.endpoint_url))
    shutil.copytree(REPO / "data", tmp_path / "data")
    refused = run(argv, tmp_path, new_user_env())
    assert refused.returncode == 2 and "no AWS credentials found" in refused.stderr
    done = run(argv, tmp_path, {**new_user_env(), **exported})
    assert done.returncode == 0, done.stdout + done.stderr
    assert sum(" -> s3://raw/Raw/Local/CSV/" in x for x in done.stdout.splitlines()) == 2
