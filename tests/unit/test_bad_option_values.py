"""Bad values and hostile inputs (issue 11): each is refused through the real command with exit 2 and
one line on stderr, no traceback, and no secret in any output; a Ctrl-C while the command is still
importing its modules exits 130 quietly. Pure validators are also unit-tested here, without a server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from async_ingest.cli.main import UsageError, parse_settings
from async_ingest.keys import InvalidKey, validate_template
from async_ingest.pipeline.budget import physical_memory
from async_ingest.s3.model import validate_endpoint_url
from async_ingest.sources.shard import shard_from_environment
from async_ingest.transform.detect import resolve_codec
from async_ingest.units import parse_size
from tests.conftest import REPO, CliResult, cli_env, run_cli

pytestmark = pytest.mark.slow  # runs of the command: not in the quick subset

HUGE = "9" * 400
UNREACHABLE = "http://127.0.0.1:9"  # nothing listens: a refused value must fail before any request
BASE = ("data/series.csv", "--bucket", "b-ok")


def assert_one_line_usage_error(result: CliResult, message: str) -> None:
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr, result.stderr


def refused(*args: str | Path, **env: str) -> CliResult:
    return run_cli(*BASE, *args, env=cli_env(UNREACHABLE, **env), timeout=60)


# --credentials-file: a bounded read of a regular file


def test_credentials_file_that_is_a_device_or_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "creds.fifo"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo), str(tmp_path)):
        assert_one_line_usage_error(refused("--credentials-file", path), f"{path}: not a regular file")


def test_credentials_file_larger_than_64_kib_is_refused(tmp_path: Path) -> None:
    creds = tmp_path / "big.json"
    creds.write_text(json.dumps({"aws_access_key_id": "a", "aws_secret_access_key": "s" * 70_000}))
    creds.chmod(0o600)
    assert_one_line_usage_error(refused("--credentials-file", creds), "larger than 64 KiB")


@pytest.mark.parametrize("field", ["aws_access_key_id", "aws_secret_access_key", "aws_session_token"])
def test_credentials_that_are_not_strings_are_refused_without_echo(tmp_path: Path, field: str) -> None:
    data: dict[str, Any] = {"aws_access_key_id": "AKIDX", "aws_secret_access_key": "secret-in-file"}
    data[field] = {"nested": "secret-in-file"} if field != "aws_session_token" else 123456789
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps(data))
    creds.chmod(0o600)
    result = refused("--credentials-file", creds)
    assert_one_line_usage_error(result, f"{field} must be a string")
    assert "secret-in-file" not in result.output and "123456789" not in result.output


# Endpoint URLs: checked before anything else; a password in one is never shown


@pytest.mark.parametrize(
    "url", ["ftp://u:secret@127.0.0.1/", "http://u:secret@", "http://u:secret@127.0.0.1:9", "u:secret@host:9"]
)
def test_endpoint_url_with_a_password_is_refused_without_showing_it(url: str) -> None:
    assert_no_password(refused("--endpoint-url", url), "--endpoint-url: must not contain a user name")


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "ASYNC_INGEST_ENDPOINT_URL"])
def test_endpoint_url_with_a_password_from_the_environment(variable: str) -> None:
    origin = "--endpoint-url" if variable.startswith("ASYNC") else variable
    assert_no_password(refused(**{variable: "http://u:secret@127.0.0.1:9"}), f"{origin}: must not contain")


def assert_no_password(result: CliResult, message: str) -> None:
    assert_one_line_usage_error(result, message)
    assert "secret" not in result.stdout and "secret" not in result.stderr


def test_endpoint_url_password_is_refused_before_other_errors() -> None:
    result = run_cli("--endpoint-url", "http://u:secret@h", env=cli_env())  # no SOURCE either
    assert_one_line_usage_error(result, "--endpoint-url: must not contain a user name or password")
    assert "secret" not in result.output


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/", "scheme must be http or https"),
        ("http://127.0.0.1:99999", "port a number 1-65535"),
        ("http://127.0.0.1:0", "port must be a number"),
        ("http://127.0.0.1:x", "port a number 1-65535"),
        ("http:///bucket", "no valid host name"),
        ("http://127.0.0.1:9/?x=1", "query"),
        ("http://127.0.0.1:9/#frag", "fragment"),
        ("http://exa mple.com", "spaces or control characters"),
    ],
)
def test_endpoint_url_shapes(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_endpoint_url(url, "--endpoint-url")


def test_endpoint_url_shapes_that_are_fine() -> None:
    for url in (
        "http://127.0.0.1:8333",
        "https://s3.eu-west-1.amazonaws.com",
        "http://[::1]:9000/",
        "HTTP://h",
    ):
        assert validate_endpoint_url(url, "--endpoint-url") == url


def test_bad_endpoint_url_through_the_command() -> None:
    assert_one_line_usage_error(refused("--endpoint-url", "ftp://127.0.0.1/"), "--endpoint-url: the scheme")


# AWS configuration botocore refuses: exit 2 and one line, not a traceback


def test_unknown_profile_is_a_usage_error() -> None:
    assert_one_line_usage_error(
        refused("--profile", "nosuch"), "The config profile (nosuch) could not be found"
    )
    assert_one_line_usage_error(refused(ASYNC_INGEST_PROFILE="nosuch"), "(nosuch) could not be found")


@pytest.mark.parametrize("variable", ["AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"])
def test_malformed_aws_config_file_is_a_usage_error(tmp_path: Path, variable: str) -> None:
    broken = tmp_path / "broken.ini"
    broken.write_text("[default\naws_secret_access_key = secret-in-ini\n")
    result = refused(**{variable: str(broken)})
    assert_one_line_usage_error(result, f"Unable to parse config file: {broken}")
    assert "secret-in-ini" not in result.output


def test_invalid_region_is_refused_early_from_option_environment_and_config(tmp_path: Path) -> None:
    assert_one_line_usage_error(refused("--region", "../../evil"), "invalid region '../../evil'")
    assert_one_line_usage_error(refused(ASYNC_INGEST_REGION="a/b"), "invalid region 'a/b'")
    assert_one_line_usage_error(refused(AWS_DEFAULT_REGION="../../evil"), "invalid region '../../evil'")
    config = tmp_path / "config"
    config.write_text("[default]\nregion = ../x\n")
    assert_one_line_usage_error(refused(AWS_CONFIG_FILE=str(config)), "invalid region '../x'")


# Values of options (and of their ASYNC_INGEST_* variables)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--part-size", HUGE), {}, "--part-size: size too large"),
        (("--max-memory", HUGE), {}, "--max-memory: size too large"),
        ((), {"ASYNC_INGEST_MAX_MEMORY": HUGE}, "--max-memory: size too large"),
        (("--max-memory", "1000TiB"), {}, "--max-memory 1000TiB:"),
        (("--read-timeout", "nan"), {}, "--read-timeout nan: must be a positive number"),
        (("--read-timeout", "inf"), {}, "--read-timeout inf: must be a positive number"),
        ((), {"ASYNC_INGEST_READ_TIMEOUT": "nan"}, "--read-timeout nan: must be a positive number"),
        (("--progress-interval", "0"), {}, "--progress-interval 0.0: must be a positive number"),
        (("--progress-interval", "nan"), {}, "--progress-interval nan: must be a positive number"),
        ((), {"ASYNC_INGEST_PROGRESS_INTERVAL": "0"}, "--progress-interval 0.0: must be"),
        (("--encoding", "unicode_escape"), {}, "'unicode_escape' is not a text encoding"),
        ((), {"ASYNC_INGEST_ENCODING": "utf-7"}, "'utf-7' is not a text encoding"),
        (("--key-template", "a\\{filename}"), {}, "contains a control character or a backslash"),
        (("--key-template", "a/\x01/{filename}"), {}, "contains a control character or a backslash"),
        ((), {"ASYNC_INGEST_KEY_TEMPLATE": "a\t{filename}"}, "contains a control character"),
        (
            (),
            {"JOB_COMPLETION_INDEX": "x", "JOB_COMPLETIONS": "4"},
            "JOB_COMPLETION_INDEX='x': expected a whole",
        ),
        (
            (),
            {"AWS_BATCH_JOB_ARRAY_INDEX": "0", "AWS_BATCH_JOB_ARRAY_SIZE": "y"},
            "AWS_BATCH_JOB_ARRAY_SIZE='y'",
        ),
        ((), {"ASYNC_INGEST_CREDENTIALS_FILE": "/dev/zero"}, "/dev/zero: not a regular file"),
    ],
)
def test_bad_values_exit_2_with_one_line(args: tuple[str, ...], env: dict[str, str], message: str) -> None:
    assert_one_line_usage_error(refused(*args, **env), message)


@pytest.mark.parametrize(
    "name",
    [
        "unicode_escape",
        "raw_unicode_escape",
        "utf-7",
        "idna",
        "punycode",
        "charmap",
        "undefined",
        "rot13",
        "base64",
        "hex_codec",
        "zlib",
    ],
)
def test_codecs_that_are_not_file_encodings_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a text encoding"):
        resolve_codec(name)


def test_file_encodings_still_accepted() -> None:
    for name in ("utf-8", "latin-1", "cp1252", "utf-16", "cp037", "shift_jis", "iso2022_jp", "palmos"):
        resolve_codec(name)


def test_sizes_are_parsed_exactly_and_bounded() -> None:
    assert parse_size("1.5k") == 1536
    assert parse_size("1024TiB") == 1024**5
    for text in (HUGE, "1025TiB", "1" * 100_000):
        with pytest.raises(ValueError, match="size too large"):
            parse_size(text)
    with pytest.raises(ValueError, match="not a size"):
        parse_size("\u0663MiB")  # an Arabic-Indic digit


def test_template_text_must_not_hold_control_characters_or_backslashes() -> None:
    for template in ("a\\{filename}", "a\n/{filename}", "{filename}\x7f", "x\x85/{filename}"):
        with pytest.raises(InvalidKey, match="control character or a backslash"):
            validate_template(template)


def test_shard_variables_are_named_in_errors() -> None:
    with pytest.raises(ValueError, match="JOB_COMPLETION_INDEX='x'"):
        shard_from_environment({"JOB_COMPLETION_INDEX": "x", "JOB_COMPLETIONS": "2"})
    with pytest.raises(ValueError, match="AWS_BATCH_JOB_ARRAY_INDEX=3, AWS_BATCH_JOB_ARRAY_SIZE=3"):
        shard_from_environment({"AWS_BATCH_JOB_ARRAY_INDEX": "3", "AWS_BATCH_JOB_ARRAY_SIZE": "3"})
    with pytest.raises(ValueError, match="JOB_COMPLETIONS='\u00b2'"):
        shard_from_environment({"JOB_COMPLETION_INDEX": "0", "JOB_COMPLETIONS": "\u00b2"})


def test_max_memory_beyond_the_machine_or_the_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    machine = physical_memory()
    assert machine is not None and machine > 0
    args = ["data/", "--bucket", "b-ok", "--max-memory"]
    with pytest.raises(UsageError, match="more than this machine's memory"):
        parse_settings([*args, str(machine + 1)], {})
    monkeypatch.setattr("async_ingest.validate.physical_memory", lambda: None)  # the OS does not say
    with pytest.raises(UsageError, match=r"above the 64\.0 GiB ceiling"):
        parse_settings([*args, "65GiB"], {})
    assert parse_settings([*args, "64GiB"], {}).ingest.max_memory == 64 * 1024**3


EARLY_IMPORTS = ("async_ingest.transform.detect", "async_ingest.pipeline.file", "async_ingest.cli.main")
S3_IMPORTS = ("aiohttp", "botocore", "async_ingest.s3.client")


# The dry runs read standard input, which the test keeps open and empty until the signal is sent:
# on a loaded machine the test may read the import lines late, and a run already over when SIGINT
# lands (or the interpreter tearing down) is not what is tested here.
DRY_RUN_ON_OPEN_STDIN = ("-", "--name", "x.csv", "--bucket", "b-ok", "--dry-run")


@pytest.mark.parametrize(
    ("module", "args"),
    [(m, DRY_RUN_ON_OPEN_STDIN) for m in EARLY_IMPORTS] + [(m, BASE) for m in S3_IMPORTS],
)
def test_sigint_while_importing_exits_130_quietly(module: str, args: tuple[str, ...]) -> None:
    """-X importtime reports each import on stderr as it completes: SIGINT is sent the moment the
    given module has been imported, i.e. in the middle of the command's imports, on any machine load."""
    process = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "async_ingest", *args],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=cli_env(UNREACHABLE),
        cwd=REPO,
    )
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if line.rsplit("|", 1)[-1].strip() == module:
            process.send_signal(signal.SIGINT)
            break
    else:
        pytest.fail(f"{module} was never imported")
    stdout, rest = process.communicate(timeout=60)
    stderr = "".join(lines) + rest
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert stdout == "", stdout
