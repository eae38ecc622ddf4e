"""The backend plugin that opens docs/plugins.md runs: an invocation goes through it end to end."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import anyio
import attrs

from anylambda import Config, FunctionSettings, InvokeRequest, Runtime
from anylambda.testing import make_zip

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
#: Seconds the example may take to start an instance and answer.
LIMIT = 30

APP = """\
import os

def handler(event, context):
    print("handling", event)
    return {"got": event, "request": context.aws_request_id, "cwd": os.getcwd()}
"""


def load_example() -> types.ModuleType:
    """The first ```python block of the guide, executed as a module."""
    match = re.search(r"^```python\n(.*?)^```$", GUIDE.read_text(), re.DOTALL | re.MULTILINE)
    assert match is not None, "docs/plugins.md has no python block"
    module = types.ModuleType("subprocess_backend")
    exec(compile(match.group(1), str(GUIDE), "exec"), module.__dict__)
    return module


async def test_the_guides_backend_runs_an_invocation(tmp_path: Path) -> None:
    example = load_example()
    config = Config(data_dir=tmp_path, backend="subprocess", account_concurrency=2)
    runtime = f"python3.{sys.version_info.minor}"
    with anyio.fail_after(LIMIT):
        async with Runtime(config, plugins=[example]) as rt:
            assert type(rt.backend).__name__ == "SubprocessBackend"
            settings = FunctionSettings(runtime=runtime, handler="app.handler")
            await rt.create_function("guide", settings, make_zip({"app.py": APP}))
            result = await rt.invoke(InvokeRequest("guide", b'{"n": 1}'))
            assert result.function_error is None, result.payload
            payload = json.loads(result.payload)
            assert payload["got"] == {"n": 1}
            assert payload["request"] == result.request_id
            assert (Path(payload["cwd"]) / "app.py").is_file(), "it runs in the code directory"
            await rt.create_function(
                "broken", attrs.evolve(settings, handler="missing.handler"), make_zip({"a": ""})
            )
            result = await rt.invoke(InvokeRequest("broken", b"{}"))
            assert result.function_error == "Unhandled"
            assert json.loads(result.payload)["errorType"] == "Runtime.ImportModuleError"
