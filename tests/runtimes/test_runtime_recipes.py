"""The runtime recipes: registration, host commands, environments and availability."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import anylambda.runtimes
from anylambda.core.config import Config
from anylambda.core.errors import BackendError
from anylambda.core.plugins import Plugins, make_plugin_manager
from anylambda.runtimes.launchers import NODE_BOOTSTRAP

OWN_PYTHON = f"python3.{sys.version_info.minor}"


def executable(path: Path, text: str) -> Path:
    """Write an executable script."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def plugins() -> Iterator[Plugins]:
    """The runtimes plugin alone in a plugin manager; its interpreter overrides reset after."""
    yield Plugins(make_plugin_manager(autoload=False, blocked=["process", "lambda_api"]))
    anylambda.runtimes.INTERPRETERS.configure({})


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory that is the whole ``PATH``."""
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", str(path))
    return path


# --- registration -----------------------------------------------------------------------


def test_plugin_contributes_every_runtime(plugins):
    runtimes = plugins.runtimes()
    assert {name: (r.family, r.image) for name, r in runtimes.items()} == {
        **{f"python3.{m}": ("python", f"public.ecr.aws/lambda/python:3.{m}") for m in range(9, 15)},
        **{f"nodejs{n}.x": ("nodejs", f"public.ecr.aws/lambda/nodejs:{n}") for n in (18, 20, 22)},
        "provided": ("provided", "public.ecr.aws/lambda/provided:alami"),
        "provided.al2": ("provided", "public.ecr.aws/lambda/provided:al2"),
        "provided.al2023": ("provided", "public.ecr.aws/lambda/provided:al2023"),
    }
    assert all(recipe.host is not None for recipe in runtimes.values())


def test_configured_interpreters_reach_the_recipes(plugins, tmp_path):
    bogus = str(tmp_path / "no-such-python")
    plugins.configure(Config(interpreters={"python3.12": bogus}))
    launcher = plugins.runtimes()["python3.12"].host
    assert launcher.interpreter() == bogus
    assert launcher.unavailable_reason() == (
        f"python3.12 is not available on this host: {bogus} cannot import awslambdaric "
        '(install awslambdaric for it, or set interpreters."python3.12" in the config)'
    )


# --- python -----------------------------------------------------------------------------


def test_own_python_runs_awslambdaric_with_the_servers_interpreter(host_recipes, spec_for):
    launcher = host_recipes[OWN_PYTHON].host
    spec = spec_for(Path("/code"), runtime=OWN_PYTHON, handler="app.handler")
    assert launcher.unavailable_reason() is None
    assert launcher.command(spec) == [sys.executable, "-m", "awslambdaric", "app.handler"]


def test_other_python_is_found_on_path(host_recipes, spec_for, bin_dir):
    python = executable(bin_dir / "python3.10", "#!/bin/sh\necho 3.10\n")
    spec = spec_for(Path("/code"), runtime="python3.10", handler="app.handler")
    assert host_recipes["python3.10"].host.command(spec)[0] == str(python)
    assert host_recipes["python3.10"].host.unavailable_reason() is None


def test_python_without_interpreter(host_recipes, spec_for, bin_dir):
    launcher = host_recipes["python3.10"].host
    assert launcher.unavailable_reason() == (
        "python3.10 is not available on this host: no python3.10 interpreter found "
        '(install Python 3.10 with awslambdaric, or set interpreters."python3.10" in the config)'
    )
    with pytest.raises(BackendError, match=r"no python3\.10 interpreter found"):
        launcher.command(spec_for(Path("/code"), runtime="python3.10", handler="app.handler"))


def test_failing_pyenv_shim_is_unavailable(host_recipes, bin_dir):
    shim = executable(
        bin_dir / "python3.10", "#!/bin/sh\necho 'pyenv: not selected' >&2\nexit 127\n"
    )
    reason = host_recipes["python3.10"].host.unavailable_reason()
    assert f"{shim} cannot import awslambdaric" in reason


def test_override_of_the_wrong_version(interpreters, host_recipes):
    interpreters.configure({"python3.10": sys.executable})
    assert f"{sys.executable} is Python 3.{sys.version_info.minor}, not 3.10" in (
        host_recipes["python3.10"].host.unavailable_reason()
    )


def test_interpreters_are_probed_once(host_recipes, bin_dir, tmp_path):
    runs = tmp_path / "runs"
    executable(bin_dir / "python3.10", f"#!/bin/sh\necho run >> {runs}\necho 3.10\n")
    launcher = host_recipes["python3.10"].host
    assert launcher.unavailable_reason() is None
    assert launcher.unavailable_reason() is None
    assert runs.read_text() == "run\n"


def test_python_environment_puts_later_layers_first(host_recipes, spec_for, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    spec = spec_for(Path("/code"), runtime="python3.12", layer_dirs=(Path("/l1"), Path("/l2")))
    assert host_recipes["python3.12"].host.environment(spec) == {
        "PYTHONPATH": ":".join(
            [
                "/code",
                "/l2/python/lib/python3.12/site-packages",
                "/l1/python/lib/python3.12/site-packages",
                "/l2/python",
                "/l1/python",
            ]
        ),
        "PATH": "/l2/bin:/l1/bin:/usr/bin:/bin",
        "LD_LIBRARY_PATH": "/code:/code/lib:/l2/lib:/l1/lib",
    }


# --- nodejs -----------------------------------------------------------------------------


def test_node_of_the_right_major_runs_our_bootstrap(host_recipes, spec_for, bin_dir):
    node = executable(bin_dir / "node", "#!/bin/sh\necho v20.11.1\n")
    launcher = host_recipes["nodejs20.x"].host
    assert launcher.unavailable_reason() is None
    spec = spec_for(Path("/code"), runtime="nodejs20.x", handler="index.handler")
    assert launcher.command(spec) == [str(node), str(NODE_BOOTSTRAP)]
    assert NODE_BOOTSTRAP.is_file()


def test_node_of_another_major_is_unavailable(host_recipes, bin_dir):
    node = executable(bin_dir / "node", "#!/bin/sh\necho v20.11.1\n")
    assert host_recipes["nodejs22.x"].host.unavailable_reason() == (
        f"nodejs22.x is not available on this host: {node} is v20.11.1, not Node.js 22 "
        '(install Node.js 22, or set interpreters."nodejs22.x" in the config)'
    )


def test_node_override(interpreters, host_recipes, tmp_path, bin_dir):
    node22 = executable(tmp_path / "node22" / "node", "#!/bin/sh\necho v22.1.0\n")
    interpreters.configure({"nodejs22.x": str(node22)})
    assert host_recipes["nodejs22.x"].host.unavailable_reason() is None


def test_no_node_at_all(host_recipes, bin_dir):
    reason = host_recipes["nodejs20.x"].host.unavailable_reason()
    assert reason.startswith("nodejs20.x is not available on this host: no node executable found")


def test_node_environment(host_recipes, spec_for, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin")
    spec = spec_for(Path("/code"), runtime="nodejs20.x", layer_dirs=(Path("/l1"), Path("/l2")))
    env = host_recipes["nodejs20.x"].host.environment(spec)
    assert env["NODE_PATH"] == ":".join(
        [
            "/l2/nodejs/node20/node_modules",
            "/l1/nodejs/node20/node_modules",
            "/l2/nodejs/node_modules",
            "/l1/nodejs/node_modules",
            "/code",
        ]
    )
    assert env["PATH"] == "/l2/bin:/l1/bin:/usr/bin"


# --- provided ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_line", "prefix"),
    [
        (b"#!/bin/sh\n", ["bash"]),
        (b"#! /bin/bash\n", ["bash"]),
        (b"#!/usr/bin/env bash\n", ["bash"]),
        (b"#!/usr/bin/env sh\n", ["bash"]),
        (b"#!/bin/sh -e\n", ["bash", "-e"]),
        (b"#!/bin/shell\n", []),
        (b"#!/usr/bin/env python3\n", []),
        (b"\x7fELF\x02\x01\x01\x00", []),
        (b"", []),
    ],
)
def test_shell_bootstraps_run_with_bash(host_recipes, spec_for, tmp_path, first_line, prefix):
    (tmp_path / "bootstrap").write_bytes(first_line + b"echo hi\n")
    spec = spec_for(tmp_path, runtime="provided.al2023")
    bash = shutil.which("bash")
    expected = [bash if part == "bash" else part for part in prefix]
    command = host_recipes["provided.al2023"].host.command(spec)
    assert command == [*expected, str(tmp_path / "bootstrap")]


def test_missing_bootstrap_still_gives_a_command(host_recipes, spec_for, tmp_path):
    launcher = host_recipes["provided.al2"].host
    spec = spec_for(tmp_path, runtime="provided.al2")
    assert launcher.unavailable_reason() is None
    assert launcher.command(spec) == [str(tmp_path / "bootstrap")]


def test_bootstrap_from_the_last_layer_that_has_one(host_recipes, spec_for, tmp_path):
    code, l1, l2, l3 = (tmp_path / name for name in ("code", "l1", "l2", "l3"))
    for directory in (code, l1, l2, l3):
        directory.mkdir()
    for layer in (l1, l2):
        executable(layer / "bootstrap", "#!/usr/bin/env python3\n")
    launcher = host_recipes["provided.al2023"].host
    spec = spec_for(code, runtime="provided.al2023", layer_dirs=(l1, l2, l3))
    assert launcher.command(spec) == [str(l2 / "bootstrap")]
    executable(code / "bootstrap", "#!/usr/bin/env python3\n")
    assert launcher.command(spec) == [str(code / "bootstrap")]


def test_provided_environment_keeps_the_system_path(host_recipes, spec_for):
    spec = spec_for(Path("/code"), runtime="provided.al2023", layer_dirs=(Path("/l1"),))
    env = host_recipes["provided.al2023"].host.environment(spec)
    assert env["PATH"] == f"/l1/bin:{os.environ['PATH']}"
    assert set(env) == {"PATH", "LD_LIBRARY_PATH"}


# --- real instances ---------------------------------------------------------------------


def test_python_instance_imports_from_layers(start_instance, runtime_api, tmp_path):
    code, l1, l2 = tmp_path / "code", tmp_path / "l1", tmp_path / "l2"
    site = f"python/lib/python3.{sys.version_info.minor}/site-packages"
    (code / "app.py").parent.mkdir()
    (code / "app.py").write_text(
        "import greeting, shared\n"
        "def handler(event, context):\n"
        "    return {'greeting': greeting.TEXT, 'shared': shared.TEXT,\n"
        "            'id': context.aws_request_id}\n"
    )
    for path, text in [
        (l1 / "python" / "greeting.py", "l1"),
        (l2 / site / "greeting.py", "l2-site"),
        (l1 / "python" / "shared.py", "l1"),
    ]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"TEXT = {text!r}\n")
    start_instance(OWN_PYTHON, code, "app.handler", (l1, l2))
    request_id = runtime_api.invoke({"x": 1})
    post = runtime_api.next_post()
    assert post.path == f"/2018-06-01/runtime/invocation/{request_id}/response"
    assert post.json() == {"greeting": "l2-site", "shared": "l1", "id": request_id}


#: A custom runtime in bash and curl, written for Amazon Linux, where /bin/sh is bash.
CURL_BOOTSTRAP = r"""#!/bin/sh
set -eu -o pipefail
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
source "${LAMBDA_TASK_ROOT}/${_HANDLER%%.*}.sh"
headers="$(mktemp)"
while true; do
  event="$(curl -sS -D "$headers" "$api/invocation/next")"
  request_id="$(grep -i '^lambda-runtime-aws-request-id:' "$headers" | cut -d: -f2)"
  request_id="$(echo "$request_id" | tr -d '[:space:]')"
  [[ -n "$request_id" ]]
  response="$("${_HANDLER#*.}" "$event")"
  curl -sS -o /dev/null "$api/invocation/$request_id/response" -d "$response"
done
"""


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_bash_and_curl_custom_runtime(start_instance, runtime_api, tmp_path):
    executable(tmp_path / "bootstrap", CURL_BOOTSTRAP)
    (tmp_path / "function.sh").write_text('handler() {\n  printf \'{"echo": %s}\' "$1"\n}\n')
    start_instance("provided.al2023", tmp_path, "function.handler")
    for n in range(2):
        request_id = runtime_api.invoke({"n": n})
        post = runtime_api.next_post()
        assert post.path == f"/2018-06-01/runtime/invocation/{request_id}/response"
        assert post.json() == {"echo": {"n": n}}
