"""Node.js, custom (``provided``) and Python runtimes end to end: boto3, server, real runtime."""

from __future__ import annotations

import base64
import json

import pytest

from tests.support import ROLE, make_zip

NODE = "nodejs20.x"
PROVIDED = "provided.al2023"

NODE_CODE = make_zip(
    {
        "index.js": """
exports.handler = async (event, context) => {
  console.log('hello from node', JSON.stringify(event));
  return {
    event,
    pid: process.pid,
    requestId: context.awsRequestId,
    remaining: context.getRemainingTimeInMillis(),
    greeting: process.env.GREETING,
    functionName: context.functionName,
  };
};
""",
        "callback.js": """
exports.handler = (event, context, callback) => {
  setTimeout(() => callback(null, { via: 'callback', n: event.n + 1 }), 10);
};
""",
        "throws.js": """
class ValidationError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ValidationError';
  }
}
exports.asyncThrow = async () => {
  throw new ValidationError('bad input');
};
exports.syncThrow = () => {
  null.nope();
};
exports.callbackError = (event, context, callback) => {
  callback(new RangeError('out of range'));
};
""",
        "esm.mjs": """
import { createHash } from 'node:crypto';
export const handler = async (event) => ({
  esm: true,
  requireType: typeof require,
  sha1: createHash('sha1').update(event.text).digest('hex'),
});
""",
        "missing.js": """
const absent = require('no-such-package-anylambda');
exports.handler = async () => absent;
""",
    }
)

#: The custom runtime from AWS's tutorial: a ``#!/bin/sh`` script in bash syntax.
BOOTSTRAP = """#!/bin/sh

set -euo pipefail

# Initialization - load function handler
source $LAMBDA_TASK_ROOT/"$(echo $_HANDLER | cut -d. -f1).sh"

# Processing
while true
do
  HEADERS="$(mktemp)"
  # Get an event. The HTTP request will block until one is received
  EVENT_DATA=$(curl -sS -LD "$HEADERS" \
    "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")

  # Extract request ID by scraping response headers received above
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  rm -f "$HEADERS"

  # Run the handler function from the script
  RESPONSE=$($(echo "$_HANDLER" | cut -d. -f2) "$EVENT_DATA")

  # Send the response
  curl -sS "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response" \
    -d "$RESPONSE"
done
"""

FUNCTION_SH = """function handler () {
  EVENT_DATA=$1
  echo "$EVENT_DATA" 1>&2;
  RESPONSE="{\\"echo\\": $EVENT_DATA, \\"pid\\": $$}"
  echo "$RESPONSE"
}
"""


def invoke(client, name, payload=None, **kw):
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode(), **kw)
    response["Body"] = response["Payload"].read()
    return response


def error_of(response) -> dict:
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    return json.loads(response["Body"])


@pytest.fixture
def make_function(lambda_client, function_name):
    """Create a function (a name unique to the test and the handler) and return its name."""
    count = 0

    def make(runtime: str, handler: str, code: bytes, **extra) -> str:
        nonlocal count
        count += 1
        name = f"{function_name}-{count}"[-64:].lstrip("-")
        lambda_client.create_function(
            FunctionName=name,
            Runtime=runtime,
            Handler=handler,
            Role=ROLE,
            Code={"ZipFile": code},
            **extra,
        )
        return name

    return make


# --- Node.js ---------------------------------------------------------------------------------


def test_node_async_handler_context_env_and_warm_reuse(lambda_client, make_function):
    name = make_function(
        NODE,
        "index.handler",
        NODE_CODE,
        Timeout=7,
        Environment={"Variables": {"GREETING": "hi"}},
    )
    responses = []
    for i in range(3):
        responses.append(invoke(lambda_client, name, {"n": i}))
    bodies = [json.loads(r["Body"]) for r in responses]
    for i, (response, body) in enumerate(zip(responses, bodies, strict=True)):
        assert response["StatusCode"] == 200 and "FunctionError" not in response
        assert body["event"] == {"n": i}
        assert body["requestId"] == response["ResponseMetadata"]["RequestId"]
        assert 0 < body["remaining"] <= 7000
        assert body["greeting"] == "hi"
        assert body["functionName"] == name
    assert len({body["pid"] for body in bodies}) == 1, "one warm Node.js process serves all"


def test_node_console_log_is_in_the_log_tail(lambda_client, make_function):
    name = make_function(NODE, "index.handler", NODE_CODE)
    response = invoke(lambda_client, name, {"x": 1}, LogType="Tail")
    log = base64.b64decode(response["LogResult"]).decode()
    request_id = response["ResponseMetadata"]["RequestId"]
    assert f'\t{request_id}\tINFO\thello from node {{"x":1}}' in log
    assert f"END RequestId: {request_id}" in log and f"REPORT RequestId: {request_id}" in log


def test_node_callback_handler(lambda_client, make_function):
    name = make_function(NODE, "callback.handler", NODE_CODE)
    response = invoke(lambda_client, name, {"n": 41})
    assert "FunctionError" not in response
    assert json.loads(response["Body"]) == {"via": "callback", "n": 42}


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        ("throws.asyncThrow", "ValidationError", "bad input"),
        ("throws.syncThrow", "TypeError", "Cannot read properties of null"),
        ("throws.callbackError", "RangeError", "out of range"),
    ],
)
def test_node_handler_error_is_unhandled_with_the_js_error_name(
    lambda_client, make_function, handler, error_type, message
):
    name = make_function(NODE, handler, NODE_CODE)
    body = error_of(invoke(lambda_client, name))
    assert body["errorType"] == error_type
    assert message in body["errorMessage"]
    assert isinstance(body["trace"], list) and body["trace"]
    # The runtime survives a handler error: the same function answers again.
    assert error_of(invoke(lambda_client, name))["errorType"] == error_type


def test_node_esm_handler(lambda_client, make_function):
    name = make_function(NODE, "esm.handler", NODE_CODE)
    response = invoke(lambda_client, name, {"text": "abc"})
    assert "FunctionError" not in response, response["Body"]
    assert json.loads(response["Body"]) == {
        "esm": True,
        "requireType": "undefined",
        "sha1": "a9993e364706816aba3e25717850c26c9cd0d89d",
    }


def test_node_missing_module_is_import_module_error(lambda_client, make_function):
    name = make_function(NODE, "missing.handler", NODE_CODE)
    body = error_of(invoke(lambda_client, name))
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "no-such-package-anylambda" in body["errorMessage"]


# --- provided.al2023 (custom runtime) ----------------------------------------------------------


def test_provided_bash_bootstrap_answers_and_stays_warm(lambda_client, make_function):
    code = make_zip({"bootstrap": BOOTSTRAP, "function.sh": FUNCTION_SH}, {"bootstrap": 0o755})
    name = make_function(PROVIDED, "function.handler", code)
    first = invoke(lambda_client, name, {"n": 1})
    assert "FunctionError" not in first, first["Body"]
    body = json.loads(first["Body"])
    assert body["echo"] == {"n": 1}
    second = json.loads(invoke(lambda_client, name, {"n": 2})["Body"])
    assert second["echo"] == {"n": 2}
    assert second["pid"] == body["pid"], "the same bootstrap process serves both invocations"


def test_provided_without_bootstrap_is_invalid_entrypoint(lambda_client, make_function):
    name = make_function(PROVIDED, "function.handler", make_zip({"function.sh": FUNCTION_SH}))
    body = error_of(invoke(lambda_client, name))
    assert body["errorType"] == "Runtime.InvalidEntrypoint"


def test_provided_bootstrap_exiting_is_exit_error(lambda_client, make_function):
    code = make_zip({"bootstrap": "#!/bin/sh\nexit 2\n"}, {"bootstrap": 0o755})
    name = make_function(PROVIDED, "function.handler", code)
    body = error_of(invoke(lambda_client, name))
    assert body["errorType"] == "Runtime.ExitError"
    assert "exit status 2" in body["errorMessage"]


# --- Python -------------------------------------------------------------------------------------

PY_HANDLER = (
    "import os\ndef handler(event, context):\n    return {'where': __name__, 'event': event}\n"
)


@pytest.mark.parametrize(
    ("files", "handler", "module"),
    [
        ({"pkg/__init__.py": "", "pkg/mod.py": PY_HANDLER}, "pkg.mod.handler", "pkg.mod"),
        ({"pkg/mod.py": PY_HANDLER}, "pkg.mod.handler", "pkg.mod"),  # a namespace package
        (
            {"src/__init__.py": "", "src/pkg/__init__.py": "", "src/pkg/mod.py": PY_HANDLER},
            "src/pkg/mod.handler",
            "src.pkg.mod",
        ),
    ],
    ids=["package", "namespace-package", "slash-path"],
)
def test_python_handler_in_a_subpackage(lambda_client, make_function, files, handler, module):
    name = make_function("python3.11", handler, make_zip(files))
    response = invoke(lambda_client, name, {"k": "v"})
    assert "FunctionError" not in response, response["Body"]
    assert json.loads(response["Body"]) == {"where": module, "event": {"k": "v"}}


# --- an Invoke without a payload ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("runtime", "handler", "code"),
    [
        ("python3.11", "app.handler", make_zip({"app.py": PY_HANDLER})),
        (NODE, "index.handler", NODE_CODE),
    ],
    ids=["python", "node"],
)
def test_invoke_without_payload_delivers_an_empty_object(
    lambda_client, make_function, runtime, handler, code
):
    name = make_function(runtime, handler, code)
    response = lambda_client.invoke(FunctionName=name)
    body = response["Payload"].read()
    assert "FunctionError" not in response, body
    assert json.loads(body)["event"] == {}
