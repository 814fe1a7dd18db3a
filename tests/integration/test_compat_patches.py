"""The fence around dependency internals (async_ingest/s3/compat.py).

1. The source of every dependency function or class a patch relies on is hashed, as aiobotocore's
   tests/test_patches.py does for botocore: an upgrade that changes one fails here, in CI, instead of
   in a user's run. After reading the new code (does the patch still hold? is its fallback still
   right?), add its digest with the versions it was seen in.
2. Each patch's feature check is taken away (the private attribute hidden from compat) and the
   client must still work against the real SeaweedFS server, with the dependency's public behaviour.
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from async_ingest.s3 import compat
from async_ingest.s3.client import open_s3
from async_ingest.s3.local import LocalS3Server
from async_ingest.s3.model import ConnectionSettings, Credentials
from async_ingest.s3.transport import make_session
from tests.conftest import ACCESS_KEY, SECRET_KEY


@pytest.fixture
def hidden(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """Attribute names compat must not find, as if a dependency had renamed them: compat's getattr
    is replaced by one that answers the default for them (the dependency itself is untouched)."""
    names: set[str] = set()

    def fenced_getattr(obj: object, name: str, *default: Any) -> Any:
        if name in names:
            if default:
                return default[0]
            raise AttributeError(name)
        return builtins.getattr(obj, name, *default)

    monkeypatch.setattr(compat, "getattr", fenced_getattr, raising=False)
    yield names


def settings_for(server: LocalS3Server) -> ConnectionSettings:
    return ConnectionSettings(
        endpoint_url=server.endpoint_url,
        credentials=Credentials(access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY),
    )


async def round_trip(server: LocalS3Server, bucket: str) -> tuple[bytes, Any]:
    """Upload one object (a one-part put and a two-part upload) and read it back; also the client."""
    body = b"id,name\n1,\xc3\xa9t\xc3\xa9\n" * 1000
    async with open_s3(settings_for(server)) as (s3, region):
        await s3.ensure_bucket(bucket, region, create=True)
        await s3.put_object(bucket, "one.csv", body, {}, {})
        part = 5 * 1024 * 1024
        await s3.put_in_parts(bucket, "two.csv", iter([b"a" * part, body]), part, {})
        client = s3._client
        one = await (await client.get_object(Bucket=bucket, Key="one.csv"))["Body"].read()
        two = await (await client.get_object(Bucket=bucket, Key="two.csv"))["Body"].read()
        assert two == b"a" * part + body
        return one, client


def test_the_patches_hold_with_every_feature_present(s3_server: LocalS3Server) -> None:
    """The baseline the fallbacks are compared with: every patch in place."""
    bucket = f"compat-{uuid.uuid4().hex[:10]}"
    body, client = asyncio.run(round_trip(s3_server, bucket))
    assert body.startswith(b"id,name\n1,")
    assert client._ruleset_resolver._provider.resolve_endpoint.__qualname__.startswith("cache_endpoints")
    cached = client._user_agent_creator.to_string.__qualname__.startswith("cache_user_agent")
    assert cached == (compat._get_context is not None)  # botocore without request context: not cached


@pytest.mark.parametrize("name", ["_ruleset_resolver", "_provider"])
def test_without_the_rule_set_resolver_endpoints_are_botocores(
    s3_server: LocalS3Server, hidden: set[str], name: str
) -> None:
    hidden.add(name)
    body, client = asyncio.run(round_trip(s3_server, f"compat-{uuid.uuid4().hex[:10]}"))
    assert body.startswith(b"id,name\n1,")
    assert inspect.ismethod(client._ruleset_resolver._provider.resolve_endpoint)  # botocore's own


def test_without_the_user_agent_creator_the_string_is_built_per_request(
    s3_server: LocalS3Server, hidden: set[str]
) -> None:
    hidden.add("_user_agent_creator")
    body, client = asyncio.run(round_trip(s3_server, f"compat-{uuid.uuid4().hex[:10]}"))
    assert body.startswith(b"id,name\n1,")
    assert inspect.ismethod(client._user_agent_creator.to_string)


def test_without_botocore_request_context_the_user_agent_is_left_alone(
    s3_server: LocalS3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore before botocore.context (the import fails): no cache, requests still go out."""
    monkeypatch.setattr(compat, "_get_context", None)
    body, client = asyncio.run(round_trip(s3_server, f"compat-{uuid.uuid4().hex[:10]}"))
    assert body.startswith(b"id,name\n1,")
    assert inspect.ismethod(client._user_agent_creator.to_string)


async def endpoints(session: Any) -> list[str | None]:
    urls = []
    for region in ("us-east-1", "eu-west-3", "cn-north-1"):
        for service in ("s3", "sts"):
            async with session.client(service, region_name=region) as client:
                urls.append(client.meta.endpoint_url)
    return urls


def test_without_the_component_locator_the_full_endpoint_data_is_used(
    s3_server: LocalS3Server, hidden: set[str]
) -> None:
    hidden.add("_internal_components")
    credentials = Credentials(access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)
    session = make_session(ConnectionSettings(credentials=credentials))
    resolver = session._session._get_internal_component("endpoint_resolver")
    services = {name for p in resolver._endpoint_data["partitions"] for name in p["services"]}
    assert len(services) > 100  # botocore's own data: every service
    hidden.clear()
    assert asyncio.run(endpoints(session)) == asyncio.run(endpoints(make_session(ConnectionSettings())))
    hidden.add("_internal_components")
    body, _ = asyncio.run(round_trip(s3_server, f"compat-{uuid.uuid4().hex[:10]}"))
    assert body.startswith(b"id,name\n1,")


def test_without_the_loader_cache_the_lean_data_still_resolves(
    s3_server: LocalS3Server, hidden: set[str]
) -> None:
    hidden.add("_cache")
    credentials = Credentials(access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)
    session = make_session(ConnectionSettings(credentials=credentials))
    urls = asyncio.run(endpoints(session))
    # The lean data is read from the file itself (compat.lean_endpoints_file), not through the
    # loader: with or without its cache, the endpoints are botocore's.
    hidden.clear()
    assert urls == asyncio.run(endpoints(make_session(ConnectionSettings())))
    hidden.add("_cache")
    body, _ = asyncio.run(round_trip(s3_server, f"compat-{uuid.uuid4().hex[:10]}"))
    assert body.startswith(b"id,name\n1,")
