"""Faults between the command and a real SeaweedFS: a TCP proxy (tests/faultproxy.py) resets, stalls,
cuts or refuses chosen requests; a server is killed and restarted mid-upload. Whatever happens, the
bucket holds the complete, byte-exact object or nothing, and no multipart upload is left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from async_ingest.pipeline.skip import LISTING_CANARIES
from async_ingest.s3.local import LocalS3Server
from tests.conftest import (
    ACCESS_KEY,
    REPO,
    SECRET_KEY,
    CliResult,
    cli_env,
    list_keys,
    make_client,
    open_uploads,
    read_object,
    run_cli,
)
from tests.faultproxy import Fault, FaultProxy

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset

ROW = "tt{:07d}|movie|Ação e Reação nº {:d}|Coração – “edição” especial €|2001|Drama\r\n"
PART = r"^PUT \S*[?&]partNumber={}\b"  # UploadPart of part number N
CREATE = r"^POST \S*\?uploads "  # CreateMultipartUpload
COMPLETE = r"^POST \S*\?uploadId="  # CompleteMultipartUpload
ABORT = r"^DELETE \S*\?uploadId="  # AbortMultipartUpload


def make_csv(path: Path, rows: int = 190_000) -> bytes:
    """A cp1252 CSV (190k rows: 14.8 MiB, 17.8 MiB as UTF-8, 4 parts of 5 MiB); returns its UTF-8."""
    text = "".join(ROW.format(i, i) for i in range(rows))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("cp1252"))
    return text.encode("utf-8")


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    path = tmp_path_factory.mktemp("faults") / "big.csv"
    return path, make_csv(path)


@pytest.fixture
def proxy(s3_server: LocalS3Server) -> Iterator[FaultProxy]:
    proxy = FaultProxy(s3_server.s3_port).start()
    yield proxy
    proxy.stop()


def upload_args(proxy: FaultProxy, source: Path, bucket: str, prefix: str, *extra: str) -> list[str]:
    return [
        str(source),
        "--bucket",
        bucket,
        "--key-template",
        prefix + "/{filename}",
        "--part-size",
        "5MiB",
        "--endpoint-url",
        proxy.url,
        *extra,
    ]


def start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "async_ingest", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=REPO,
    )


def finish(process: subprocess.Popen[str], timeout: float = 60) -> CliResult:
    stdout, stderr = process.communicate(timeout=timeout)
    return CliResult(process.returncode, stdout, stderr)


def assert_landed_or_nothing(s3: Any, bucket: str, key: str, expected: bytes, landed: bool) -> None:
    """The invariant of every fault test: the whole object, byte-exact, or no object at all; and no
    multipart upload left behind either way."""
    prefix = key.rsplit("/", 1)[0] + "/"
    assert open_uploads(s3, bucket, prefix) == []
    if landed:
        assert read_object(s3, bucket, key) == expected
    else:
        assert key not in list_keys(s3, bucket, prefix)


# corrupt: a byte of the part changes on the way; the server's check of its checksum refuses it.
@pytest.mark.parametrize("kind", ["slowdown", "reset", "cut", "corrupt"])
def test_a_part_that_fails_once_is_sent_again_and_the_object_lands_exact(
    kind: str, proxy: FaultProxy, s3: Any, shared_bucket: str, prefix: str, big: tuple[Path, bytes]
) -> None:
    source, expected = big
    proxy.add(Fault(kind, match=PART.format(2)))
    result = run_cli(*upload_args(proxy, source, shared_bucket, prefix), env=cli_env(), timeout=90)
    assert result.returncode == 0, result.output
    assert proxy.count(PART.format(2)) >= 2, proxy.requests  # the fault, then the retry from memory
    assert_landed_or_nothing(s3, shared_bucket, f"{prefix}/big.csv", expected, landed=True)
    assert "Traceback" not in result.output


def test_a_part_stalled_past_the_read_timeout_is_sent_again(
    proxy: FaultProxy, s3: Any, shared_bucket: str, prefix: str, big: tuple[Path, bytes]
) -> None:
    source, expected = big
    proxy.add(Fault("stall", match=PART.format(2), seconds=60))  # no answer, for far too long
    started = time.monotonic()
    args = upload_args(proxy, source, shared_bucket, prefix, "--read-timeout", "2")
    result = run_cli(*args, env=cli_env(), timeout=90)
    assert result.returncode == 0, result.output
    assert time.monotonic() - started < 40  # the stall was given up after 2 s, not waited out
    assert proxy.count(PART.format(2)) >= 2, proxy.requests
    assert_landed_or_nothing(s3, shared_bucket, f"{prefix}/big.csv", expected, landed=True)


def test_lost_answers_to_create_and_complete_leave_no_orphaned_upload(
    proxy: FaultProxy, s3: Any, shared_bucket: str, prefix: str, big: tuple[Path, bytes]
) -> None:
    """The server acts on the request, the answer is lost: the retried CreateMultipartUpload makes a
    second upload (the first one's id was never seen by the client), the retried Complete finds
    its upload already completed."""
    source, expected = big
    proxy.add(Fault("cut", match=CREATE), Fault("cut", match=COMPLETE))
    result = run_cli(*upload_args(proxy, source, shared_bucket, prefix), env=cli_env(), timeout=90)
    assert result.returncode == 0, result.output
    assert proxy.count(CREATE) == 2 and proxy.count(COMPLETE) == 2, proxy.requests
    assert_landed_or_nothing(s3, shared_bucket, f"{prefix}/big.csv", expected, landed=True)


@pytest.mark.parametrize(("kind", "reason"), [("slowdown", "SlowDown"), ("stall", "Read timeout")])
def test_a_part_failing_beyond_max_attempts_fails_its_file_alone_and_leaves_nothing(
    kind: str,
    reason: str,
    proxy: FaultProxy,
    s3: Any,
    shared_bucket: str,
    prefix: str,
    big: tuple[Path, bytes],
    tmp_path: Path,
) -> None:
    source, expected = big
    shutil.copyfile(source, tmp_path / "big.csv")
    (tmp_path / "small.csv").write_text("id|nome\n1|José\n", encoding="utf-8")  # one PutObject
    proxy.add(Fault(kind, match=PART.format(r"\d+"), times=0))  # every UploadPart, every time
    started = time.monotonic()
    args = upload_args(proxy, tmp_path, shared_bucket, prefix, "--max-attempts", "2", "--read-timeout", "1")
    result = run_cli(*args, env=cli_env(), timeout=90)
    assert result.returncode == 1, result.output
    assert time.monotonic() - started < 30  # bounded in attempts and in time
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "big.csv" in failed[0] and reason in failed[0], result.stderr
    assert "Traceback" not in result.output
    # --max-attempts 2: one retry per part (aiohttp may add one more on a kept-alive connection the
    # server closed, before botocore sees any answer)
    tries = [proxy.count(PART.format(n)) for n in range(1, 5)]
    assert max(tries) >= 2 and all(t <= 3 for t in tries), tries
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/small.csv"]
    assert_landed_or_nothing(s3, shared_bucket, f"{prefix}/big.csv", expected, landed=False)


@pytest.mark.parametrize("change", ["append", "touch"])
def test_a_source_that_changes_while_being_read_fails_and_leaves_nothing(
    change: str, proxy: FaultProxy, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    source = tmp_path / "big.csv"
    expected = make_csv(source)
    proxy.add(Fault("stall", match=PART.format(1)))
    # One part of memory: reading waits for part 1, held by the proxy, so the change lands mid-read.
    args = upload_args(proxy, source, shared_bucket, prefix, "--max-memory", "5MiB")
    process = start_cli(*args)
    try:
        proxy.wait_seen(PART.format(1))
        if change == "append":
            with source.open("ab") as f:
                f.write(b"tt9999999|movie|late row|x|2001|Drama\r\n")
        else:  # same size, new modification time
            stat = source.stat()
            os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
        proxy.release()
        result = finish(process)
    finally:
        process.kill()
    assert result.returncode == 1, result.output
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "big.csv" in failed[0] and "changed" in failed[0], result.stderr
    assert "Traceback" not in result.output
    assert_landed_or_nothing(s3, shared_bucket, f"{prefix}/big.csv", expected, landed=False)


def wait_writable(server: LocalS3Server, timeout: float = 60) -> None:
    """A restarted SeaweedFS answers before it stores again: wait until a small put goes through."""
    probe = boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, read_timeout=5, retries={"max_attempts": 1}),
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            probe.put_object(Bucket="restarted", Key="probe/ready", Body=b"ok")
            return
        except (BotoCoreError, ClientError):
            assert time.monotonic() < deadline, "the restarted server does not store objects"
            time.sleep(0.2)


def test_server_killed_and_restarted_mid_upload(tmp_path: Path, big: tuple[Path, bytes]) -> None:
    """A SeaweedFS of this test's own is SIGKILLed while a part is in flight and started again on the
    same data and ports. The proxy holds every request while the server is down, so the timing is
    the same on every run: the requests in flight when it died fail, their retries reach the new
    server."""
    source, expected = big
    server = LocalS3Server(tmp_path / "seaweedfs").start()
    proxy = FaultProxy(server.s3_port).start()
    try:
        s3 = make_client(server.endpoint_url)
        s3.create_bucket(Bucket="restarted")
        proxy.add(Fault("stall", match=PART.format(2)))
        process = start_cli(*upload_args(proxy, source, "restarted", "kill"))
        try:
            proxy.wait_seen(PART.format(2))
            proxy.add(Fault("stall", times=0))  # hold everything new until the server is back
            port = server.s3_port
            server.kill()
            server.start()
            assert server.s3_port == port
            wait_writable(server)
            proxy.release()
            result = finish(process, timeout=120)
        finally:
            process.kill()
        assert result.returncode in (0, 1), result.output
        assert "Traceback" not in result.output
        landed = result.returncode == 0
        assert_landed_or_nothing(s3, "restarted", "kill/big.csv", expected, landed=landed)
        if not landed:
            assert any("big.csv" in line for line in result.stderr.splitlines() if line.startswith("FAILED"))
    finally:
        proxy.stop()
        server.stop()


def test_the_proxy_counts_requests_on_kept_alive_connections(proxy: FaultProxy, s3_server: Any) -> None:
    """The proxy itself: the nth matching request is the one that fails, whichever connection it uses."""
    client = make_client(proxy.url)
    proxy.add(Fault("slowdown", match=r"^GET / ", nth=2))
    started = time.monotonic()
    client.list_buckets()
    client.list_buckets()  # 503 once, then retried by boto3
    assert proxy.count(r"^GET / ") == 3
    assert time.monotonic() - started < 30


def object_heads(proxy: FaultProxy, bucket: str, prefix: str) -> int:
    return proxy.count(rf"^HEAD /{bucket}/{prefix}/")  # HeadObject; the pre-flight HeadBucket has no key


def small_folder(root: Path, count: int) -> None:
    root.mkdir(exist_ok=True)
    for index in range(count):
        (root / f"f{index}.csv").write_text(f"id|name\n{index}|Zoë\n", encoding="utf-8")


def test_a_run_lists_its_prefix_once_and_checks_only_keys_already_there(
    proxy: FaultProxy, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    args = [str(folder), "--bucket", shared_bucket, "--key-template", prefix + "/{filename}"]
    args += ["--endpoint-url", proxy.url]
    small_folder(folder, 3)
    first = run_cli(*args, env=cli_env())
    assert first.returncode == 0, first.output
    assert object_heads(proxy, shared_bucket, prefix) == 0, proxy.requests  # nothing there: no HEAD
    (folder / "f3.csv").write_text("id|name\n3|new\n", encoding="utf-8")
    again = run_cli(*args, env=cli_env())
    assert again.returncode == 0, again.output
    assert "4 (1 uploaded, 3 skipped, 0 failed)" in again.stdout
    # the three listed objects' ETags are the MD5s of their files; as the run's first such files they
    # are canaries (their fingerprints checked with a HEAD), and f3, not listed, needs none
    assert object_heads(proxy, shared_bucket, prefix) == 3, proxy.requests
    assert read_object(s3, shared_bucket, f"{prefix}/f3.csv") == b"id|name\n3|new\n"


def test_once_the_canaries_agree_the_listing_alone_decides(
    proxy: FaultProxy, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    count = LISTING_CANARIES + 6
    small_folder(folder, count)
    args = [str(folder), "--bucket", shared_bucket, "--key-template", prefix + "/{filename}"]
    args += ["--endpoint-url", proxy.url]
    assert run_cli(*args, env=cli_env()).returncode == 0
    again = run_cli(*args, env=cli_env())
    assert again.returncode == 0, again.output
    assert f"{count} (0 uploaded, {count} skipped, 0 failed)" in again.stdout
    assert object_heads(proxy, shared_bucket, prefix) == LISTING_CANARIES, proxy.requests
    # Another run's options (here a tag) show in the canaries' fingerprints: every file goes up again.
    tagged = run_cli(*args, "--tag", "team=data", env=cli_env())
    assert tagged.returncode == 0, tagged.output
    assert f"{count} ({count} uploaded, 0 skipped, 0 failed)" in tagged.stdout


def test_a_listed_object_with_other_bytes_is_checked_with_a_head_and_uploaded_again(
    proxy: FaultProxy, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    small_folder(folder, 2)
    args = [str(folder), "--bucket", shared_bucket, "--key-template", prefix + "/{filename}"]
    args += ["--endpoint-url", proxy.url]
    assert run_cli(*args, env=cli_env()).returncode == 0
    s3.put_object(Bucket=shared_bucket, Key=f"{prefix}/f1.csv", Body=b"replaced by someone else\n")
    again = run_cli(*args, env=cli_env())
    assert again.returncode == 0, again.output
    assert "2 (1 uploaded, 1 skipped, 0 failed)" in again.stdout
    # f1, whose ETag differs, and f2 as a canary of the listing
    assert object_heads(proxy, shared_bucket, prefix) == 2, proxy.requests
    assert read_object(s3, shared_bucket, f"{prefix}/f1.csv") == "id|name\n1|Zoë\n".encode()


def test_with_many_other_objects_under_the_prefix_each_file_is_checked_on_its_own(
    proxy: FaultProxy, s3: Any, shared_bucket: str, prefix: str, tmp_path: Path
) -> None:
    for index in range(35):  # more than 10 per file to upload: listing them would cost more
        s3.put_object(Bucket=shared_bucket, Key=f"{prefix}/f-other-{index:02d}.csv", Body=b"x\n")
    folder = tmp_path / "in"
    small_folder(folder, 3)
    args = [str(folder), "--bucket", shared_bucket, "--key-template", prefix + "/{filename}"]
    args += ["--endpoint-url", proxy.url]
    assert run_cli(*args, env=cli_env()).returncode == 0
    assert object_heads(proxy, shared_bucket, prefix) == 3, proxy.requests
    again = run_cli(*args, env=cli_env())
    assert again.returncode == 0, again.output
    assert "3 (0 uploaded, 3 skipped, 0 failed)" in again.stdout


def test_a_store_refusing_checksum_headers_names_checksum_md5_which_works_there(
    proxy: FaultProxy, s3: Any, shared_bucket: str, prefix: str, big: tuple[Path, bytes], tmp_path: Path
) -> None:
    """A store without flexible checksums answers 400 to x-amz-checksum-* headers: each file fails
    with one line that names --checksum md5, and with it the same files land."""
    source, expected = big
    folder = tmp_path / "src"
    folder.mkdir()
    shutil.copy(source, folder / "big.csv")
    (folder / "small.csv").write_text("id|nome\n1|José\n", encoding="utf-8")
    proxy.add(Fault("refuse", header=r"x-amz-checksum-", times=0))
    result = run_cli(*upload_args(proxy, folder, shared_bucket, prefix), env=cli_env(), timeout=90)
    assert result.returncode == 1, result.output
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 2, result.output
    assert all(line.endswith("header: use --checksum md5)") for line in failed), failed
    assert "Traceback" not in result.output
    assert list_keys(s3, shared_bucket, prefix + "/") == [] and open_uploads(s3, shared_bucket, prefix) == []
    result = run_cli(
        *upload_args(proxy, folder, shared_bucket, prefix, "--checksum", "md5"), env=cli_env(), timeout=90
    )
    assert result.returncode == 0, result.output
    assert_landed_or_nothing(s3, shared_bucket, f"{prefix}/big.csv", expected, landed=True)
    assert read_object(s3, shared_bucket, f"{prefix}/small.csv") == "id|nome\n1|José\n".encode()
