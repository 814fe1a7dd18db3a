"""The session's lean endpoint data: the same endpoints as botocore's full data, for what a run calls."""

from __future__ import annotations

import asyncio

import aioboto3
import pytest

from async_ingest.s3 import ENDPOINT_SERVICES, ConnectionSettings, Credentials, make_session

REGIONS = ["us-east-1", "eu-west-3", "ap-southeast-2", "cn-north-1", "us-gov-west-1", "us-iso-east-1"]
CREDENTIALS = Credentials(access_key_id="AKIDEXAMPLE", secret_access_key="example-secret")


async def _endpoints(session: aioboto3.Session, service: str) -> list[tuple[str, str]]:
    found = []
    for region in REGIONS:
        async with session.client(service, region_name=region) as client:
            found.append((client.meta.endpoint_url, client.meta.region_name))
    return found


@pytest.mark.parametrize("service", ["s3", "sts"])
def test_lean_endpoint_data_resolves_as_botocore_does(service: str) -> None:
    lean = make_session(ConnectionSettings(credentials=CREDENTIALS))
    full = aioboto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="example-secret")
    assert asyncio.run(_endpoints(lean, service)) == asyncio.run(_endpoints(full, service))


def test_lean_endpoint_data_keeps_only_the_services_a_run_calls() -> None:
    session = make_session(ConnectionSettings(credentials=CREDENTIALS))
    asyncio.run(_endpoints(session, "s3"))
    botocore_session = session._session
    resolver = botocore_session._get_internal_component("endpoint_resolver")
    services = {name for partition in resolver._endpoint_data["partitions"] for name in partition["services"]}
    assert "s3" in services and services <= ENDPOINT_SERVICES
    loader = botocore_session.get_component("data_loader")
    assert not [key for key in loader._cache if "endpoints" in key]
