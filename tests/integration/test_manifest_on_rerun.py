"""A re-run that uploads nothing and fails nothing (every file already there) writes no new run
manifest, and says so; --manifest-always (manifest_always=True) writes one all the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from async_ingest import ingest
from async_ingest.events import ManifestSkipped
from async_ingest.s3.local import LocalS3Server
from tests.conftest import cli_env, list_keys, run_cli

NO_MANIFEST = "no manifest: nothing uploaded and nothing failed; --manifest-always writes one"


def upload(server: LocalS3Server, bucket: str, prefix: str, *extra: str) -> Any:
    args = ["data/", "--bucket", bucket, "--key-template", prefix + "/{filename}"]
    args += ["--manifest-key", prefix + "/_manifests/{run_id}.json", *extra]
    return run_cli(*args, env=cli_env(server.endpoint_url))


def manifests(s3: Any, bucket: str, prefix: str) -> list[str]:
    return list_keys(s3, bucket, f"{prefix}/_manifests/")


def test_a_rerun_that_skipped_every_file_writes_no_manifest(
    s3_server: LocalS3Server, s3: Any, shared_bucket: str, prefix: str
) -> None:
    first = upload(s3_server, shared_bucket, prefix)
    assert first.returncode == 0, first.output
    assert len(manifests(s3, shared_bucket, prefix)) == 1
    again = upload(s3_server, shared_bucket, prefix)
    assert again.returncode == 0, again.output
    assert "0 uploaded, 2 skipped, 0 failed" in again.stdout
    assert NO_MANIFEST in again.stdout.splitlines(), again.output
    assert "manifest s3://" not in again.stdout
    assert len(manifests(s3, shared_bucket, prefix)) == 1
    as_json = upload(s3_server, shared_bucket, prefix, "--log-format", "json")
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert {"event": "manifest_skipped", "reason": NO_MANIFEST.removeprefix("no manifest: ")} in [
        {k: v for k, v in e.items() if k != "t"} for e in events
    ], as_json.output
    assert len(manifests(s3, shared_bucket, prefix)) == 1


def test_manifest_always_writes_one_for_a_rerun_too(
    s3_server: LocalS3Server, s3: Any, shared_bucket: str, prefix: str
) -> None:
    assert upload(s3_server, shared_bucket, prefix).returncode == 0
    again = upload(s3_server, shared_bucket, prefix, "--manifest-always")
    assert again.returncode == 0, again.output
    written = manifests(s3, shared_bucket, prefix)
    assert len(written) == 2 and f"manifest s3://{shared_bucket}/" in again.stdout
    # The key the re-run printed: two runs in one second share the run id's time, so the
    # keys' order does not tell which is the later one.
    line = next(x for x in again.stdout.splitlines() if x.startswith("manifest s3://"))
    key = line.removeprefix(f"manifest s3://{shared_bucket}/")
    assert key in written
    document = json.loads(s3.get_object(Bucket=shared_bucket, Key=key)["Body"].read())
    assert sorted(o["status"] for o in document["objects"]) == ["skipped", "skipped"]


def test_the_api_hands_back_no_manifest_key_for_a_rerun(
    s3_server: LocalS3Server, s3: Any, shared_bucket: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in cli_env(s3_server.endpoint_url).items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    options: dict[str, Any] = {
        "bucket": shared_bucket,
        "key_template": prefix + "/{filename}",
        "manifest_key": prefix + "/_manifests/{run_id}.json",
    }
    assert ingest("data/series.csv", **options).manifest_key is not None
    events: list[Any] = []

    class Keep:
        def __call__(self, event: Any) -> None:
            events.append(event)

        def summary(self, summary: Any) -> None:
            pass

        def close(self) -> None:
            pass

    again = ingest("data/series.csv", printer=Keep(), **options)
    assert again.ok and again.manifest_key is None and again.summary["skipped"] == 1
    said = [e.reason for e in events if isinstance(e, ManifestSkipped)]
    assert said == ["nothing uploaded and nothing failed; manifest_always writes one"]  # Python's words
    assert ingest("data/series.csv", **options, manifest_always=True).manifest_key is not None
    assert len(manifests(s3, shared_bucket, prefix)) == 2


def test_manifest_always_and_no_manifest_are_refused_together(tmp_path: Path) -> None:
    result = run_cli("data/", "--bucket", "b-ok", "--no-manifest", "--manifest-always")
    assert result.returncode == 2
    assert result.stderr == (
        "async-ingest: error: --manifest-always and --no-manifest contradict each other: give one\n"
    )
