"""Bad values and hostile inputs (issue 11): each is refused through the real command with exit 2 and
one line on stderr, no traceback, and no secret in any output; a Ctrl-C while the command is still
importing its modules exits 130 quietly. Pure validators are also unit-tested here, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import cli_env, list_keys, run_cli

pytestmark = pytest.mark.slow  # a real S3 server, runs of the command: not in the quick subset


UNREACHABLE = "http://127.0.0.1:9"  # nothing listens: a refused value must fail before any request


def test_a_valid_endpoint_url_still_uploads(s3_server: Any, s3: Any, shared_bucket: str, prefix: str) -> None:
    env = cli_env(UNREACHABLE, AWS_ENDPOINT_URL_S3=s3_server.endpoint_url + "/")  # the S3 variable wins
    result = run_cli(
        "data/series.csv", "--bucket", shared_bucket, "--key-template", prefix + "/{filename}", env=env
    )
    assert result.returncode == 0, result.output
    assert list_keys(s3, shared_bucket, prefix) == [f"{prefix}/series.csv"]
