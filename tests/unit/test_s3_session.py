"""The session's lean endpoint data: the same endpoints as botocore's full data, for what a run calls."""

from __future__ import annotations

import asyncio

import aioboto3
import pytest

from async_ingest.s3.compat import ENDPOINT_SERVICES, cache_endpoints_per_bucket, cache_user_agent
from async_ingest.s3.model import ConnectionSettings, Credentials
from async_ingest.s3.transport import make_session

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


async def _resolved(client: object, calls: list[tuple[str, str]]) -> list[str]:
    resolver = client._ruleset_resolver  # type: ignore[attr-defined]
    operation = client.meta.service_model.operation_model("PutObject")  # type: ignore[attr-defined]
    urls = []
    for bucket, key in calls:
        params = {"Bucket": bucket, "Key": key, "Body": b""}
        endpoint = await resolver.construct_endpoint(operation, params, {})
        urls.append(endpoint.url)
    return urls


@pytest.mark.parametrize("endpoint_url", [None, "http://127.0.0.1:9/"])
def test_endpoints_cached_per_bucket_resolve_as_before(endpoint_url: str | None) -> None:
    calls = [("bucket-a", "k1"), ("bucket-a", "dir/k2"), ("bucket.with.dots", "k1"), ("bucket-b", "k3")]

    async def both() -> tuple[list[str], list[str], list[dict[str, object]]]:
        session = make_session(ConnectionSettings(credentials=CREDENTIALS))
        async with session.client("s3", region_name="eu-west-3", endpoint_url=endpoint_url) as client:
            before = await _resolved(client, calls)
            provider = client._ruleset_resolver._provider
            seen: list[dict[str, object]] = []
            original = provider.resolve_endpoint

            def spy(**params: object) -> object:
                seen.append(params)
                return original(**params)

            provider.resolve_endpoint = spy
            cache_endpoints_per_bucket(client)
            after = await _resolved(client, calls)
            return before, after, seen

    before, after, seen = asyncio.run(both())
    assert after == before
    assert len(set(before)) == 3  # the bucket still decides the endpoint
    assert seen and all("Key" not in params and params["Bucket"] for params in seen)


def test_user_agent_kept_per_feature_set_is_botocores() -> None:
    # botocore records request features from 1.37.x on; before, the User-Agent is not cached at all.
    start_as_current_context = pytest.importorskip("botocore.context").start_as_current_context
    register_feature_id = pytest.importorskip("botocore.useragent").register_feature_id

    async def strings() -> list[tuple[str, str]]:
        session = make_session(ConnectionSettings(credentials=CREDENTIALS))
        async with session.client("s3", region_name="us-east-1") as client:
            creator = client._user_agent_creator
            build = creator.to_string
            cache_user_agent(client)
            pairs = [(creator.to_string(), build())]
            with start_as_current_context():
                register_feature_id("RETRY_MODE_STANDARD")
                pairs.append((creator.to_string(), build()))
                register_feature_id("FLEXIBLE_CHECKSUMS_REQ_CRC64")
                pairs.append((creator.to_string(), build()))
            pairs.append((creator.to_string(), build()))
            return pairs

    pairs = asyncio.run(strings())
    assert all(cached == fresh for cached, fresh in pairs)
    assert len({cached for cached, _ in pairs}) == 3  # the features recorded still show


def test_endpoint_cache_left_alone_when_the_rule_set_cannot_be_read() -> None:
    """A botocore whose rule objects have no attribute dict (or no rule set at all) keeps its own
    lookup: the run goes on without the per-bucket cache."""

    class Slotted:
        __slots__ = ("x",)

    class Provider:
        def __init__(self, rules: object) -> None:
            self.ruleset = type("RuleSet", (), {"rules": rules})()

        def resolve_endpoint(self, **params: object) -> object:
            return params

    class Client:
        def __init__(self, provider: Provider) -> None:
            self._ruleset_resolver = type("Resolver", (), {"_provider": provider})()

    for rules in ([Slotted()], None):
        provider = Provider(rules)
        original = provider.resolve_endpoint
        cache_endpoints_per_bucket(Client(provider))
        assert provider.resolve_endpoint == original
        assert provider.resolve_endpoint(Bucket="b", Key="k") == {"Bucket": "b", "Key": "k"}
