"""Ctrl-C (SIGINT) and a container stop (SIGTERM) in the middle of a multipart upload: the command
aborts what it has in flight and exits 130 / 143 within seconds, leaving no object and no upload."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from async_ingest.s3.local import LocalS3Server
from tests.conftest import list_keys, open_uploads
from tests.faultproxy import Fault, FaultProxy
from tests.integration.test_faults import ABORT, PART, finish, make_csv, start_cli, upload_args

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset

EXIT_WITHIN_S = 10


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("signals") / "big.csv"
    make_csv(path)
    return path


@pytest.fixture
def proxy(s3_server: LocalS3Server) -> Iterator[FaultProxy]:
    proxy = FaultProxy(s3_server.s3_port).start()
    yield proxy
    proxy.stop()


def wait_for_upload(s3: Any, bucket: str, prefix: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not open_uploads(s3, bucket, prefix + "/"):
        assert time.monotonic() < deadline, "the multipart upload never showed up"
        time.sleep(0.1)


def assert_nothing_left(s3: Any, bucket: str, prefix: str) -> None:
    assert open_uploads(s3, bucket, prefix + "/") == []
    assert list_keys(s3, bucket, prefix + "/") == []


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_a_signal_mid_upload_aborts_it_and_exits_with_its_code(
    signum: signal.Signals,
    code: int,
    proxy: FaultProxy,
    s3: Any,
    shared_bucket: str,
    prefix: str,
    big: Path,
) -> None:
    proxy.add(Fault("stall", match=PART.format(3)))  # part 3 hangs: the upload is surely mid-way
    process = start_cli(*upload_args(proxy, big, shared_bucket, prefix))
    try:
        proxy.wait_seen(PART.format(3))
        wait_for_upload(s3, shared_bucket, prefix)
        sent = time.monotonic()
        process.send_signal(signum)
        result = finish(process, timeout=EXIT_WITHIN_S + 20)
        took = time.monotonic() - sent
    finally:
        process.kill()
    assert result.returncode == code, result.output
    assert took < EXIT_WITHIN_S, took
    assert "Traceback" not in result.output
    assert f"{signum.name}: aborting uploads in flight" in result.stderr
    assert proxy.count(ABORT) >= 1, proxy.requests
    assert_nothing_left(s3, shared_bucket, prefix)


def test_a_second_ctrl_c_while_aborting_still_leaves_nothing(
    proxy: FaultProxy, s3: Any, shared_bucket: str, prefix: str, big: Path
) -> None:
    """The abort request itself is held by the proxy, the user presses Ctrl-C again meanwhile."""
    proxy.add(Fault("stall", match=PART.format(3)), Fault("stall", match=ABORT))
    process = start_cli(*upload_args(proxy, big, shared_bucket, prefix))
    try:
        proxy.wait_seen(PART.format(3))
        wait_for_upload(s3, shared_bucket, prefix)
        process.send_signal(signal.SIGINT)
        proxy.wait_seen(ABORT)  # aborting now, and stuck on it
        process.send_signal(signal.SIGINT)
        time.sleep(0.5)  # let the second signal land while the abort is still held
        assert process.poll() is None, "the second Ctrl-C must not cut the abort short"
        proxy.release()
        result = finish(process, timeout=EXIT_WITHIN_S + 20)
    finally:
        process.kill()
    assert result.returncode == 130, result.output
    assert "Traceback" not in result.output
    assert_nothing_left(s3, shared_bucket, prefix)
