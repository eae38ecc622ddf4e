"""Layers on each container backend: real servers and containers, one read-only merged /opt."""

from __future__ import annotations

import json

import pytest

from tests.backends.container_support import invoke
from tests.support import make_zip

pytestmark = pytest.mark.acceptance

HANDLERS = make_zip(
    {
        "handlers.py": """
import errno, os, subprocess

def opt(event, context):
    import shared, only_first, only_second
    try:
        open("/opt/python/new.py", "w").close()
        write = "written"
    except OSError as exc:
        write = errno.errorcode[exc.errno]
    return {
        "shared": shared.WHO,
        "modules": [only_first.WHO, only_second.WHO],
        "tool": subprocess.run(["tool"], capture_output=True, text=True).stdout.strip(),
        "python": sorted(os.listdir("/opt/python")),
        "write": write,
    }
"""
    }
)


def layer(client, name: str, who: str, files: list[str]) -> str:
    """Publish a layer whose modules ``files`` and ``bin/tool`` say ``who``; its version ARN."""
    content = make_zip(
        {
            **{f"python/{module}.py": f"WHO = {who!r}\n" for module in files},
            "bin/tool": f"#!/bin/sh\necho {who}\n",
        },
        {"bin/tool": 0o755},
    )
    published = client.publish_layer_version(LayerName=name, Content={"ZipFile": content})
    return published["LayerVersionArn"]


def test_layers_are_merged_into_a_read_only_opt(container_lambda, make_function, function_name):
    first = layer(container_lambda, f"{function_name}-1", "first", ["shared", "only_first"])
    second = layer(container_lambda, f"{function_name}-2", "second", ["shared", "only_second"])
    name = make_function("opt", code=HANDLERS, Layers=[first, second])
    response = invoke(container_lambda, name)
    assert "FunctionError" not in response, response["Body"]
    assert json.loads(response["Body"]) == {
        "shared": "second",
        "modules": ["first", "second"],
        "tool": "second",
        "python": ["only_first.py", "only_second.py", "shared.py"],
        "write": "EROFS",
    }

    container_lambda.update_function_configuration(FunctionName=name, Layers=[second, first])
    body = json.loads(invoke(container_lambda, name)["Body"])
    assert (body["shared"], body["tool"]) == ("first", "first"), "the later layer wins"


def test_one_layer_is_mounted_as_it_is(container_lambda, make_function, function_name):
    only = layer(container_lambda, f"{function_name}-1", "only", ["shared"])
    code = make_zip(
        {"handlers.py": "import shared\n\ndef who(event, context):\n    return shared.WHO\n"}
    )
    name = make_function("who", code=code, Layers=[only])
    assert json.loads(invoke(container_lambda, name)["Body"]) == "only"
