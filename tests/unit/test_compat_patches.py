"""The fence around dependency internals (async_ingest/s3/compat.py).

1. The source of every dependency function or class a patch relies on is hashed, as aiobotocore's
   tests/test_patches.py does for botocore: an upgrade that changes one fails here, in CI, instead of
   in a user's run. After reading the new code (does the patch still hold? is its fallback still
   right?), add its digest with the versions it was seen in.
2. Each patch's feature check is taken away (the private attribute hidden from compat) and the
   client must still work against the real SeaweedFS server, with the dependency's public behaviour.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from typing import Any

import pytest

from async_ingest.s3 import compat

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
    # LeanSession: the handlers it leaves out, registered from __init__ (issue 22).
    "aioboto3.session:Session._register_default_handlers": {
        "3b258b5d9574b925ef819ab0eafbc0db3d1b5bf6": "floor, top"
    },
    "aioboto3.session:Session.__init__": {
        "4a20a57c685962d81d16bf8b309bf7b01bc61994": "floor",
        "0c8cf6319b5d6dfac7341968f0e2870f3d0c132f": "top",
    },
    # lean_endpoints_file: the file the loader would load (search paths in order, .json then .json.gz).
    "botocore.loaders:Loader._potential_locations": {
        "d8dbe1b219a34370856a1469cb1a46ffdded4a00": "floor, top"
    },
    "botocore.loaders:JSONFileLoader.load_file": {"1ae452ff7b6d228282973f9e7681177d97f9d6f9": "floor, top"},
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


async def endpoints(session: Any) -> list[str | None]:
    urls = []
    for region in ("us-east-1", "eu-west-3", "cn-north-1"):
        for service in ("s3", "sts"):
            async with session.client(service, region_name=region) as client:
                urls.append(client.meta.endpoint_url)
    return urls


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
