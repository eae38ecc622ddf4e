"""``Runtime.layers`` used as a library, on the fake backend: no HTTP, no wire shapes."""

from __future__ import annotations

import pytest

from anylambda import InvalidParameterValueError, InvokeRequest, Runtime
from anylambda.testing import (
    create_function,
    fake_config,
    fake_handlers,
    fake_runtime,
    fake_settings,
    make_zip,
)

__all__ = ["fake_config", "fake_handlers", "fake_runtime"]

SHARED = make_zip({"python/shared.py": "VALUE = 1\n"})


async def test_layers_reach_instances_in_attach_order(fake_runtime: Runtime, fake_handlers):
    fake_handlers["app.handler"] = lambda event, context: "ok"
    first = await fake_runtime.layers.publish("first", make_zip({"bin/one": "1"}))
    second = await fake_runtime.layers.publish(
        "second", make_zip({"bin/two": "2"}), compatible_runtimes=["python3.12"]
    )
    assert (first.version, second.arn) == (1, fake_runtime.layers.arn("second", 1))
    config = await create_function(
        fake_runtime, "fn", "app.handler", layers=[second.arn, first.arn]
    )
    assert [layer.code for layer in config.layers] == [second.code, first.code]

    await fake_runtime.invoke(InvokeRequest("fn"))
    layer_dirs = fake_runtime.backend.specs[-1].layer_dirs
    assert [sorted(p.name for p in (d / "bin").iterdir()) for d in layer_dirs] == [
        ["two"],
        ["one"],
    ]
    launches = fake_runtime.backend.launches
    await fake_runtime.update_function_configuration("fn", layers=[first.arn])
    await fake_runtime.invoke(InvokeRequest("fn"))
    assert fake_runtime.backend.launches == launches + 1, "a layer change is a new deployment"
    assert len(fake_runtime.backend.specs[-1].layer_dirs) == 1


async def test_a_zip_shared_by_a_layer_and_a_function_outlives_either(fake_runtime: Runtime):
    layer = await fake_runtime.layers.publish("shared", SHARED)
    blob = fake_runtime.layers.zip_path(layer)
    broken = fake_settings("app.handler", runtime="no-such-runtime")
    with pytest.raises(InvalidParameterValueError):
        await fake_runtime.create_function("broken", broken, SHARED)
    assert blob.is_file(), "a failed CreateFunction keeps a zip a layer version uses"

    await fake_runtime.create_function("fn", fake_settings("app.handler"), SHARED)
    await fake_runtime.layers.delete("shared", 1)
    assert blob.is_file(), "a function's code is the same zip"
    assert fake_runtime.account_settings().total_code_size == len(SHARED)


async def test_listing_pages_through_every_layer(fake_runtime: Runtime):
    for name in ("a", "b", "c"):
        await fake_runtime.layers.publish(name, SHARED)
    page, marker = await fake_runtime.layers.list(max_items=2)
    assert [v.name for v in page] == ["a", "b"]
    rest, last = await fake_runtime.layers.list(marker=marker)
    assert ([v.name for v in rest], last) == (["c"], None)
