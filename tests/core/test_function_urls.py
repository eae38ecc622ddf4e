"""Function URL configs as a library: the lookup by URL id and by ``Host`` that the frontend
serving function URLs relies on, and their persistence."""

from __future__ import annotations

import json

from anylambda.core.catalog import Catalog
from anylambda.core.store.registry import Registry
from anylambda.core.urls import FunctionUrls
from tests.core.conftest import REGION


async def test_a_url_is_found_by_id_and_by_host(registry: Registry, catalog: Catalog) -> None:
    urls = FunctionUrls(registry, catalog, REGION)
    url = await urls.create("fn", "NONE")
    host = urls.host(url)
    assert host == f"{url.url_id}.lambda-url.{REGION}.localhost"
    assert len(url.url_id) == 32 and url.url_id.isalnum() and url.url_id.islower()
    assert (url.function_name, url.qualifier, url.unqualified) == ("fn", "$LATEST", True)
    assert urls.by_url_id(url.url_id) == url
    for form in (host, f"{host}:9000", host.upper(), f"{host}."):
        assert urls.by_host(form) == url, form
    for other in (
        f"{url.url_id}.lambda-url.eu-west-1.localhost",
        f"{url.url_id}.lambda-url.{REGION}.on.aws",
        f"x.{host}",
        "localhost:9000",
        f"{'0' * 32}.lambda-url.{REGION}.localhost",
    ):
        assert urls.by_host(other) is None, other

    updated = await urls.update("fn", auth_type="AWS_IAM")
    assert urls.by_host(host) == updated
    reloaded = FunctionUrls(registry, catalog, REGION)
    await reloaded.load()
    assert reloaded.by_host(host) == updated

    await urls.drop("fn")
    assert urls.by_host(host) is None
    await reloaded.load()
    assert reloaded.by_url_id(url.url_id) is None


async def test_stored_url_configs_are_json(registry: Registry, catalog: Catalog) -> None:
    urls = FunctionUrls(registry, catalog, REGION)
    await urls.create("fn", "NONE", cors=None)
    (document,) = registry.load_documents("function-url").values()
    assert json.loads(json.dumps(document))["$LATEST"]["auth_type"] == "NONE"
