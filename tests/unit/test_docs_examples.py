"""The README's and docs' examples are what the tool does: the documented commands are run on the
sample data (data/) as a new user runs them after the quick start, and every documented output line
(file lines with their checksum and CSV fields, the manifest line, the summary, the plan) must be
one the run printed. Only what changes from run to run is normalised: the date, run id, port,
seconds, throughput and bucket."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, cli_env

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
EXAMPLE_DOCS = [REPO / "README.md", REPO / "docs/output.md", REPO / "docs/container.md"]
CODE_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
COMPOSE_PREFIX = re.compile(r"^ingest_1\s+\| ")
FILE_OR_MANIFEST = re.compile(r"^/?data/\w+\.csv -> s3://|^manifest s3://")
VARYING = [
    (re.compile(r"\b\d{4}/\d{2}/\d{2}/"), "YYYY/MM/DD/"),
    (re.compile(r"\b\d{8}T\d{6}Z-[0-9a-f]{8}\b"), "RUN-ID"),
    (re.compile(r"http://127\.0\.0\.1:\d+"), "http://127.0.0.1:PORT"),
    (re.compile(r"  \d+\.\d\d s  "), "  N s  "),
    (re.compile(r"^seconds     .*"), "seconds     N"),
    (re.compile(r"^throughput  .*"), "throughput  N"),
    (re.compile(r"s3://[a-z0-9.-]+(/|$)"), r"s3://BUCKET\1"),
]
# Lines a slow machine adds (every --progress-interval): not part of the documented output.
PROGRESS = re.compile(r"^progress    |^\S+\.csv: .* of .* \(\d+%\)$")


def normalise(line: str) -> str:
    line = COMPOSE_PREFIX.sub("", line.rstrip())
    line = re.sub(r"^/data/", "data/", line)  # the container mounts the sample at /data
    for pattern, replacement in VARYING:
        line = pattern.sub(replacement, line)
    return line


def code_blocks(path: Path, language: str | None = None) -> list[str]:
    return [body for lang, body in CODE_BLOCK.findall(path.read_text()) if language in (None, lang)]


def console_examples(path: Path) -> list[tuple[str, list[str]]]:
    """```console blocks: each `$ command` line and the lines it printed."""
    examples: list[tuple[str, list[str]]] = []
    for body in code_blocks(path, "console"):
        for line in body.splitlines():
            if line.startswith("$ "):
                examples.append((line[2:], []))
            else:
                examples[-1][1].append(line)
    return examples


def command(text: str) -> list[str]:
    words = text.split()
    assert words[0] == "async-ingest", text  # on PATH after the quick start's `source .venv/bin/activate`
    return [sys.executable, "-m", "async_ingest", *words[1:]]


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def new_user_env() -> dict[str, str]:
    """No AWS keys or endpoint: what a fresh shell has (the quick start needs none)."""
    env = cli_env()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def sample_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """The quick start's command run twice in a fresh folder holding a copy of data/ (the second
    run is the re-run the README describes), and the plan, each as printed."""
    home = tmp_path_factory.mktemp("new-user")
    shutil.copytree(REPO / "data", home / "data")
    outputs: dict[str, list[str]] = {}
    for name, text in [
        ("first", "async-ingest data/ --local"),
        ("rerun", "async-ingest data/ --local"),
        ("plan", "async-ingest data/ --bucket my-datalake --dry-run"),
    ]:
        done = run(command(text), home, new_user_env())
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stderr == "", done.stderr
        outputs[name] = [normalise(x) for x in done.stdout.splitlines() if not PROGRESS.match(x)]
    return outputs


@pytest.mark.slow  # runs of the command with their own SeaweedFS
def test_the_quick_start_console_examples_print_what_they_show(sample_runs: dict[str, list[str]]) -> None:
    examples = console_examples(REPO / "README.md")
    assert [text for text, _ in examples] == [
        "async-ingest data/ --local",
        "async-ingest data/ --bucket my-datalake --dry-run",
    ]
    for (text, shown), actual in zip(examples, (sample_runs["first"], sample_runs["plan"]), strict=True):
        # The files run concurrently: their lines may come in either order.
        assert sorted(normalise(x) for x in shown) == sorted(actual), text


@pytest.mark.slow
@pytest.mark.parametrize("doc", EXAMPLE_DOCS, ids=lambda p: p.name)
def test_every_documented_file_and_manifest_line_is_one_the_sample_gives(
    doc: Path, sample_runs: dict[str, list[str]]
) -> None:
    """The checksum of data/movies.csv, its CSV fields and the manifest line, as the runs print them."""
    printed = set(sample_runs["first"]) | set(sample_runs["rerun"])
    documented = [
        normalise(line)
        for body in code_blocks(doc)
        for line in body.splitlines()
        if FILE_OR_MANIFEST.match(COMPOSE_PREFIX.sub("", line))
    ]
    assert documented, f"{doc.name} shows no output line of the sample"
    assert [line for line in documented if line not in printed] == []


@pytest.mark.slow
def test_the_rerun_skips_both_files_and_says_why(sample_runs: dict[str, list[str]]) -> None:
    rerun = sample_runs["rerun"]
    skipped = [x for x in rerun if "skipped (already uploaded from this same source)" in x]
    assert len(skipped) == 2
    assert "files       2 (0 uploaded, 2 skipped, 0 failed)" in rerun
    readme = (REPO / "README.md").read_text()
    assert "skipped (already uploaded from this same source)" in readme


@pytest.mark.slow
def test_the_compose_summary_is_the_runs_summary(sample_runs: dict[str, list[str]]) -> None:
    """docs/container.md shows the Compose run's log: its summary rows are the sample's."""
    block = next(b for b in code_blocks(REPO / "docs/container.md", "text") if "ingest_1" in b)
    shown = [normalise(x) for x in block.splitlines() if COMPOSE_PREFIX.match(x)]
    # The run without its --local lines: the server line and the bucket listing.
    summary = [x for x in sample_runs["first"] if not x.startswith(("local S3", "s3://", " "))]
    assert sorted(shown) == sorted(summary)


INTERNAL = re.compile(r"\bissue[ -]?#?\d+|design card|\bcommits? [0-9a-f]{7}", re.I)
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_internal_wording_and_no_link_to_a_missing_file(doc: Path) -> None:
    text = doc.read_text()
    assert INTERNAL.findall(text) == []
    missing = [
        target for target in LINK.findall(text) if "://" not in target and not (doc.parent / target).exists()
    ]
    assert missing == []
