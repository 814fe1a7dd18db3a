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
import hashlib
import importlib
import inspect
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from async_ingest.s3 import compat
from async_ingest.s3.client import make_session, open_s3
from async_ingest.s3.local import LocalS3Server
from async_ingest.s3.model import ConnectionSettings, Credentials
from tests.conftest import ACCESS_KEY, SECRET_KEY

ABSENT = "absent"  # the object does not exist in that version (its patch then stands down)

# "module:qualified.name" -> {sha1 of inspect.getsource: the versions it was seen in}. Floor: aioboto3
# 13.4.0 / aiobotocore 2.18.0 / botocore 1.36.0 / aiohttp 3.9.2; top: aioboto3 15.5.0 / aiobotocore
# 2.25.1 / botocore 1.40.61 / aiohttp 3.14.5.
DIGESTS: dict[str, dict[str, str]] = {
    # install_lean_endpoint_resolver / lean_endpoint_resolver: the resolver botocore would register,
    # the locator it registers with, the loader cache it leaves the parsed file in.
    "botocore.session:Session._register_endpoint_resolver": {
        "acd48525c86f60e7749571262fb7f617347cc29a": "floor, top"
    },
    "botocore.session:ComponentLocator.lazy_register_component": {
        "66b572eda374d4f8f581cd7cdc69cbd68d287a36": "floor, top"
    },
    "botocore.loaders:instance_cache": {"f112ee26c1f2ff697982406e5cf36bc3f9c589f0": "floor, top"},
    "botocore.loaders:Loader.load_data_with_path": {"59c29389751f35bff84491125d0dd052e7f569c8": "floor, top"},
    "botocore.regions:EndpointResolver.__init__": {"88df117edffd35746f8fffb777cbb9966191914e": "floor, top"},
    # cache_endpoints_per_bucket: the client's rule-set resolver, its provider, the call with the params.
    "botocore.regions:EndpointRulesetResolver.__init__": {
        "184abbf81da4c93a8698a31df6ff1af38237dd46": "floor, top"
    },
    "aiobotocore.regions:AioEndpointRulesetResolver.construct_endpoint": {
        "352f2a57f77b7217b91f336640ed8cafefe1bf23": "floor",
        "4fc0ddfc607886f4e5e1253b72dd28bb9839b5c8": "top",
    },
    "botocore.endpoint_provider:EndpointProvider.resolve_endpoint": {
        "89cc04b86d6a562404ee5fe660f9fc77827f04d2": "floor, top"
    },
    # cache_user_agent: what the string is built from, and where it is asked for per request.
    "botocore.useragent:UserAgentString.to_string": {
        "3fb25d3df6709493a5e2f2ec6aec9f61d605be08": "floor",
        "9eba9b66963d3756b57504fb29b71bed1ce1496e": "top",
    },
    "botocore.useragent:UserAgentString._build_feature_metadata": {
        "fdefde1b62ac7917a4a0ad724528d316a65a6d12": "floor",
        "2bdc9c9c46b35523eb2f4252fceb93f5bd5df59d": "top",
    },
    "botocore.context:get_context": {
        ABSENT: "floor",
        "7e08efb7ab1f255348ae8317904ee1041331bf0f": "top",
    },
    "aiobotocore.client:AioBaseClient._convert_to_request_dict": {
        "50426fc737af6e9c3f17b7d202217436a8a4696e": "floor, top"
    },
    # PartPayload: how aiohttp sizes and writes a Payload body.
    "aiohttp.payload:Payload.__init__": {
        "55af1ffc07beb6a8fcd4b9c51348f4450c290788": "floor",
        "99a6fb9e1c63de7b78500fbfff97c64c0d489fb5": "top",
    },
    "aiohttp.payload:Payload.size": {
        "e2fd61943f09a39f5c15cddf9da9a3b956df645b": "floor",
        "8700e31f1d4a2f2943f6ad2f55b265c43f67368f": "top",
    },
    "aiohttp.client_reqrep:ClientRequest.update_body_from_data": {
        "ddc50f517622ff09869e967108d37fb483b103d4": "floor",
        "67164113ce3fa65f13812e073d02566f0c40675f": "top",
    },
    "aiohttp.client_reqrep:ClientRequest.write_bytes": {
        "c7e809df7d6edb9163bc4d359f8546e40935b87b": "floor",
        "d17011467d5ae89c6bbbb1bcdeefbca5eea68157": "top",
    },
    # WatchedHTTPSession: aiobotocore hands a body that is no file object to aiohttp as it is.
    "aiobotocore.httpsession:AIOHTTPSession.send": {
        "223958693145baed192461836c4eb7b78c9c4c2d": "floor",
        "12ca98c0c82a1796b11556e16ef6b291317a9772": "top",
    },
}


def digest(target: str) -> str:
    module_name, _, qualname = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return ABSENT
    if isinstance(obj, property):
        obj = obj.fget
    return hashlib.sha1(inspect.getsource(obj).encode()).hexdigest()


@pytest.mark.parametrize("target", sorted(DIGESTS))
def test_patched_dependency_code_is_a_known_version(target: str) -> None:
    found = digest(target)
    assert found in DIGESTS[target], (
        f"{target} changed ({found}): re-check the patch in async_ingest/s3/compat.py that relies on it"
    )


# --- each fallback, against the real server ---


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
    loader = session._session.get_component("data_loader")
    assert [key for key in loader._cache if "endpoints" in key]  # left where botocore put it
    hidden.clear()
    assert urls == asyncio.run(endpoints(make_session(ConnectionSettings())))
    hidden.add("_cache")
    body, _ = asyncio.run(round_trip(s3_server, f"compat-{uuid.uuid4().hex[:10]}"))
    assert body.startswith(b"id,name\n1,")


def test_endpoint_data_of_an_unknown_shape_is_used_whole() -> None:
    """A future endpoints.json the lean filter does not understand: botocore's resolver on all of it."""

    class Loader:
        def __init__(self) -> None:
            self._cache: dict[tuple[str, ...], object] = {("load_data_with_path", "endpoints"): "kept"}

        def load_data_with_path(self, name: str) -> tuple[dict[str, Any], str]:
            return {"version": 4, "partitions": [{"partition": "aws", "regions": {}}]}, "builtin"

        def is_builtin_path(self, path: str) -> bool:
            return True

    class Session:
        loader = Loader()

        def get_component(self, name: str) -> Loader:
            return self.loader

    resolver = compat.lean_endpoint_resolver(Session())
    assert resolver._endpoint_data["partitions"] == [{"partition": "aws", "regions": {}}]
    assert Session.loader._cache  # nothing dropped: the data in use is botocore's own
