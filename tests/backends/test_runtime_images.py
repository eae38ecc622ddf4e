"""Every runtime anylambda supports serves an invocation in its image, on each container backend.

The images are the ones ``make images`` builds (``anylambda images build``). A missing
image skips its runtime locally, saying how to build it; in CI it fails the run.
"""

from __future__ import annotations

import json

import pytest

from anylambda.runtimes import recipes
from anylambda.runtimes.launchers import Interpreters
from tests.backends.container_support import invoke
from tests.support import ROLE, make_zip, unavailable

pytestmark = pytest.mark.acceptance

#: Runtime name -> the image that serves it by default.
IMAGES = {recipe.name: recipe.image for recipe in recipes(Interpreters())}

PYTHON = """import os, sys
def handler(event, context):
    return {"echo": event, "uid": os.getuid(), "version": "%d.%d" % sys.version_info[:2]}
"""
NODE = """exports.handler = async (event) =>
  ({ echo: event, uid: process.getuid(), version: process.version });
"""
# The AWS docs' custom runtime, with bash features behind #!/bin/sh (bash on Amazon Linux).
PROVIDED = r"""#!/bin/sh
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
HEADERS="$(mktemp)"
while true; do
  EVENT=$(curl -sS -LD "$HEADERS" "$API/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  declare -A seen=([shell]="bash")
  curl -sS "$API/$ID/response" \
    -d "{\"echo\": $EVENT, \"uid\": $(id -u), \"version\": \"${seen[shell]}\"}"
done
"""


def function_for(runtime: str) -> tuple[str, bytes, str]:
    """The handler, code and expected version prefix of a function of ``runtime``."""
    if runtime.startswith("python"):
        return "app.handler", make_zip({"app.py": PYTHON}), runtime.removeprefix("python")
    if runtime.startswith("nodejs"):
        major = runtime.removeprefix("nodejs").removesuffix(".x")
        return "index.handler", make_zip({"index.js": NODE}), f"v{major}."
    return "function.handler", make_zip({"bootstrap": PROVIDED}, {"bootstrap": 0o755}), "bash"


@pytest.mark.parametrize("runtime", sorted(IMAGES))
def test_runtime_serves_an_invocation_in_its_image(
    container_lambda, engine, function_name, runtime
):
    image = IMAGES[runtime]
    if not engine.has_image(image):
        unavailable(f"the image {image} is not on {engine.backend}: run `make images`")
    handler, code, version = function_for(runtime)
    name = f"{function_name}-{runtime.replace('.', '-')}"[:64]
    container_lambda.create_function(
        FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE, Code={"ZipFile": code}
    )
    try:
        response = invoke(container_lambda, name, {"hello": runtime})
    finally:
        container_lambda.delete_function(FunctionName=name)
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response, response["Body"]
    body = json.loads(response["Body"])
    assert body["echo"] == {"hello": runtime}
    assert body["uid"] == 993
    assert body["version"].startswith(version)
