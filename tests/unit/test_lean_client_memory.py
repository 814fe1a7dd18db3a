"""The S3 client's own memory (issue 22): no boto3 transfer machinery, and the endpoint data read one
service at a time, with the same result as botocore's whole file."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from botocore.loaders import Loader

from async_ingest.s3.compat import ENDPOINT_SERVICES, lean_endpoints_file

_CLIENT_SCRIPT = """
import asyncio, sys
from async_ingest.s3.transport import make_session
from async_ingest.s3.model import ConnectionSettings, Credentials

async def main():
    session = make_session(ConnectionSettings(credentials=Credentials("AKIDEXAMPLE", "example")))
    async with session.client("s3", region_name="eu-west-3") as client:
        print(hasattr(client, "upload_file"), "s3transfer" in sys.modules, client.meta.endpoint_url)

asyncio.run(main())
"""


def test_the_client_loads_no_transfer_manager() -> None:
    """aioboto3's default handlers add upload_file & co. to the client class, importing s3transfer,
    multiprocessing and awscrt.s3 (~1.5 MB of peak RSS): a run never calls them."""
    result = subprocess.run(
        [sys.executable, "-c", _CLIENT_SCRIPT], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False", "https://s3.eu-west-3.amazonaws.com"]


def _full_filtered(data: dict[str, object]) -> dict[str, object]:
    partitions = data["partitions"]
    assert isinstance(partitions, list)
    lean = [
        {**p, "services": {k: v for k, v in p["services"].items() if k in ENDPOINT_SERVICES}}
        for p in partitions
    ]
    return {**data, "partitions": lean}


def test_endpoint_data_read_one_service_at_a_time_equals_the_filtered_file() -> None:
    loader = Loader()
    found = lean_endpoints_file(loader)
    assert found is not None
    data, path = found
    assert loader.is_builtin_path(path)
    full, _ = loader.load_data_with_path("endpoints")
    assert data == _full_filtered(json.loads(json.dumps(full)))


def test_endpoint_data_follows_the_search_path_and_gzip(tmp_path: Path) -> None:
    """A data folder of the user's (AWS_DATA_PATH) comes first, as botocore's loader has it."""
    custom = {
        "version": 3,
        "partitions": [
            {
                "partition": "aws",
                "regions": {"r-1": {}},
                "services": {"s3": {"endpoints": {"r-1": {}}}, "ec2": {}},
            }
        ],
    }
    with gzip.open(tmp_path / "endpoints.json.gz", "wt", encoding="utf-8") as file:
        json.dump(custom, file)
    found = lean_endpoints_file(Loader(extra_search_paths=[str(tmp_path)]))
    assert found is not None
    assert found[0] == _full_filtered(custom)
    assert found[1] == str(tmp_path / "endpoints")


def test_endpoint_data_of_another_shape_is_left_to_botocore(tmp_path: Path) -> None:
    """None: the caller parses the file whole, as before (a shape this does not know is used whole)."""
    (tmp_path / "endpoints.json").write_text(json.dumps({"partitions": {"aws": {}}}))
    assert lean_endpoints_file(Loader(extra_search_paths=[str(tmp_path)])) is None
    (tmp_path / "endpoints.json").write_text('{"partitions": [{"services": {"s3": {}}}')  # truncated
    assert lean_endpoints_file(Loader(extra_search_paths=[str(tmp_path)])) is None
