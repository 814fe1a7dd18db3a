"""Issue 21, item 4: typed per-file results (FileResult, Status), progress reaching a subscriber
(on_queued / on_progress / on_done) and the `async_ingest` logger, beside the printers. The runs go
against the real SeaweedFS of the session."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from async_ingest import FailedFiles, ingest
from async_ingest.events import FileResult, Status
from async_ingest.sources.files import SourceFile
from async_ingest.subscribers import LOGGER_NAME, BaseSubscriber, subscriber_printer
from async_ingest.units import MiB
from tests.conftest import SECRET_KEY, cli_env, list_keys

ROW = "42;Ünïcödé text that repeats to make a multipart upload;3.14\n"


@pytest.fixture
def aws_env(s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in cli_env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """A multipart file, a small one, one that is not text, and a .zip that is not one."""
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "big.csv").write_bytes(("id;text;value\n" + ROW * (6 * MiB // len(ROW))).encode("cp1252"))
    (folder / "small.csv").write_text("id|nome\n1|José\n", encoding="utf-8")
    (folder / "garbage.csv").write_bytes(bytes((i * 7919 + 13) % 256 for i in range(20_000)))
    (folder / "broken.zip").write_bytes(b"not a zip at all")
    return folder


class Recorder(BaseSubscriber):
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    def on_queued(self, source: SourceFile, key: str) -> None:
        self.calls.append(("queued", Path(source.location).name, key))

    def on_progress(self, source: SourceFile, bytes_done: int) -> None:
        self.calls.append(("progress", Path(source.location).name, bytes_done))

    def on_done(self, result: FileResult) -> None:
        self.calls.append(("done", Path(result.source.location).name, result))


def run(folder: Path, bucket: str, endpoint: str, prefix: str, **options: Any) -> Any:
    return ingest(
        folder,
        bucket=bucket,
        endpoint_url=endpoint,
        key_template=prefix + "/{filename}",
        part_size="5MiB",
        manifest=False,
        **options,
    )


def test_a_subscriber_sees_each_file_queued_progressing_and_done(
    aws_env: None, s3_server: Any, s3: Any, shared_bucket: str, prefix: str, sources: Path
) -> None:
    recorder = Recorder()
    result = run(sources, shared_bucket, s3_server.endpoint_url, prefix, printer=subscriber_printer(recorder))
    names = ["big.csv", "small.csv", "garbage.csv", "broken.zip"]
    queued = {name: key for kind, name, key in recorder.calls if kind == "queued"}
    assert queued == {
        "big.csv": f"{prefix}/big.csv",
        "small.csv": f"{prefix}/small.csv",
        "garbage.csv": f"{prefix}/garbage.csv",
        "broken.zip": "",  # could not be read: queued and done at once
    }
    for name in names:  # each: queued once, then progress, then done once, in that order
        kinds = [kind for kind, seen, _ in recorder.calls if seen == name]
        assert kinds[0] == "queued" and kinds[-1] == "done" and kinds.count("done") == 1, (name, kinds)
    big = sources / "big.csv"
    progress = [done for kind, name, done in recorder.calls if kind == "progress" and name == "big.csv"]
    assert len(progress) == 2 and progress == sorted(progress) and progress[-1] == big.stat().st_size
    done = {name: value for kind, name, value in recorder.calls if kind == "done"}
    assert done["big.csv"].status is Status.UPLOADED and done["big.csv"].parts == 2
    assert done["small.csv"].csv.rows == 1 and done["small.csv"].checksum.algorithm == "CRC64NVME"
    garbage = done["garbage.csv"]
    assert garbage.status is Status.FAILED and garbage.error
    # The error is the cause alone: the path is the source's (it had been repeated before).
    assert (
        "garbage.csv" not in garbage.error
        and garbage.error_line == f"{garbage.source.location}: {garbage.error}"
    )
    assert done["broken.zip"].error.startswith("cannot read: not a zip archive")
    # RunResult.results are the same typed objects; the report's dicts keep the path in "error".
    assert [r.status for r in result.results].count(Status.UPLOADED) == 2
    assert {e["error"] for e in result.failures} == {r.error_line for r in result.results if r.error}
    with pytest.raises(FailedFiles) as caught:
        result.raise_for_failures()
    assert str(caught.value).count("garbage.csv") == 1  # "path: cause", the path said once
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/big.csv", f"{prefix}/small.csv"]


def test_every_run_logs_to_the_async_ingest_logger_without_secrets(
    aws_env: None, s3_server: Any, shared_bucket: str, prefix: str, sources: Path, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    run(sources, shared_bucket, s3_server.endpoint_url, prefix)  # no subscriber, no printer: still logged
    records = [r for r in caplog.records if r.name == LOGGER_NAME]
    by_level = {(r.levelname, Path(r.source).name) for r in records}
    assert ("INFO", "big.csv") in by_level and ("INFO", "small.csv") in by_level
    assert ("WARNING", "garbage.csv") in by_level and ("WARNING", "broken.zip") in by_level
    assert ("INFO", "garbage.csv") not in by_level
    uploaded = next(r for r in records if r.levelname == "INFO" and r.source.endswith("big.csv"))
    assert uploaded.status == "uploaded" and uploaded.key == f"{prefix}/big.csv"
    assert uploaded.getMessage().startswith("uploaded ") and f"s3://{shared_bucket}/{prefix}/big.csv" in (
        uploaded.getMessage()
    )
    debug = [r.getMessage() for r in records if r.levelname == "DEBUG"]
    assert any(m.startswith("queued ") for m in debug) and any("bytes sent" in m for m in debug)
    assert not any(SECRET_KEY in r.getMessage() for r in caplog.records)
