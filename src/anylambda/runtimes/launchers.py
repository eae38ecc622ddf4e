"""Host launchers: how the process backend starts each runtime family on this machine.

A launcher turns a :class:`~anylambda.core.models.LaunchSpec` into an argv and
the extra environment that stands in for what AWS's execution environment
provides: the language's Runtime Interface Client, and the search paths into
``/opt``, where AWS merges a function's layers. On the host each layer stays in
its own directory, so the paths list every layer, later layers first (on AWS a
later layer overwrites an earlier one's files).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from anylambda.core.errors import BackendError
from anylambda.core.models import LaunchSpec

#: Our own Node.js Runtime Interface Client.
NODE_BOOTSTRAP = Path(__file__).parent / "node" / "bootstrap.js"
#: Seconds a probe of an interpreter may take.
PROBE_TIMEOUT = 10.0
#: Prints the interpreter's ``X.Y`` if it can import awslambdaric.
_PYTHON_PROBE = "import sys, awslambdaric; print('%d.%d' % sys.version_info[:2])"
#: Shebangs of scripts written for Amazon Linux, whose ``/bin/sh`` is bash (Debian's is dash).
_SHELL_SHEBANG = re.compile(
    rb"#!\s*(?:/usr/bin/env\s+|(?:/usr)?/bin/)(?:ba)?sh(?:[ \t]+(\S.*?))?\s*"
)


class Interpreters:
    """Interpreter overrides from the config, and cached probes of interpreters.

    Thread-safe: launchers consult it from worker threads.
    """

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        self._overrides = dict(overrides or {})
        self._probes: dict[tuple[str, ...], str | None] = {}
        self._lock = threading.Lock()

    def configure(self, overrides: Mapping[str, str]) -> None:
        """Replace the overrides: runtime name -> interpreter path (``Config.interpreters``)."""
        self._overrides = dict(overrides)

    def override(self, runtime: str) -> str | None:
        """The configured interpreter for ``runtime``, if any."""
        return self._overrides.get(runtime)

    def probe(self, argv: Sequence[str]) -> str | None:
        """Run ``argv`` once and remember its stdout; ``None`` if it failed or could not run."""
        key = tuple(argv)
        with self._lock:
            if key not in self._probes:
                self._probes[key] = _run(key)
            return self._probes[key]


def _run(argv: tuple[str, ...]) -> str | None:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _paths(*groups: Sequence[Path | str]) -> str:
    return os.pathsep.join(str(p) for group in groups for p in group if p)


def layer_environment(spec: LaunchSpec) -> dict[str, str]:
    """``PATH`` and ``LD_LIBRARY_PATH`` with the layers' ``bin`` and ``lib``, for every family.

    The server's own ``PATH`` follows the layers' directories, so system tools stay reachable.
    Like AWS, the code's directory and its ``lib`` are searched for shared libraries too.
    """
    layers = spec.layer_dirs[::-1]
    return {
        "PATH": _paths([layer / "bin" for layer in layers], [os.environ.get("PATH", os.defpath)]),
        "LD_LIBRARY_PATH": _paths(
            [spec.code_dir, spec.code_dir / "lib"],
            [layer / "lib" for layer in layers],
            [os.environ.get("LD_LIBRARY_PATH", "")],
        ),
    }


def _unavailable(runtime: str, detail: str, remedy: str) -> str:
    return (
        f"{runtime} is not available on this host: {detail} "
        f'({remedy}, or set interpreters."{runtime}" in the config)'
    )


@attrs.frozen
class PythonLauncher:
    """``pythonX.Y -m awslambdaric HANDLER``, with layers on ``PYTHONPATH``."""

    runtime: str
    """``python3.12``."""
    version: tuple[int, int]
    interpreters: Interpreters

    @property
    def _version_text(self) -> str:
        major, minor = self.version
        return f"{major}.{minor}"

    def interpreter(self) -> str | None:
        """The configured interpreter, else the server's own if it is this version, else PATH's."""
        configured = self.interpreters.override(self.runtime)
        if configured:
            return configured
        if sys.version_info[:2] == self.version:
            return sys.executable
        return shutil.which(f"python{self._version_text}")

    def unavailable_reason(self) -> str | None:
        """Why no interpreter of this version can run awslambdaric here, or ``None``."""
        interpreter = self.interpreter()
        if interpreter is None:
            return _unavailable(
                self.runtime,
                f"no {self.runtime} interpreter found",
                f"install Python {self._version_text} with awslambdaric",
            )
        found = self.interpreters.probe((interpreter, "-c", _PYTHON_PROBE))
        if found == self._version_text:
            return None
        if found is None:
            detail = f"{interpreter} cannot import awslambdaric"
        else:
            detail = f"{interpreter} is Python {found}, not {self._version_text}"
        return _unavailable(self.runtime, detail, "install awslambdaric for it")

    def command(self, spec: LaunchSpec) -> list[str]:
        """Run awslambdaric on the function's handler (also in ``_HANDLER``)."""
        interpreter = self.interpreter()
        if interpreter is None:
            raise BackendError(self.unavailable_reason() or self.runtime)
        return [interpreter, "-m", "awslambdaric", spec.function.settings.handler or ""]

    def environment(self, spec: LaunchSpec) -> dict[str, str]:
        """``PYTHONPATH``: the code, then the layers' site-packages, then their ``python`` dirs.

        That is AWS's order for ``/var/task``, ``/opt/python/lib/pythonX.Y/site-packages``
        and ``/opt/python``.
        """
        layers = spec.layer_dirs[::-1]
        site = f"python/lib/python{self._version_text}/site-packages"
        return {
            **layer_environment(spec),
            "PYTHONPATH": _paths(
                [spec.code_dir],
                [layer / site for layer in layers],
                [layer / "python" for layer in layers],
            ),
        }


@attrs.frozen
class NodeLauncher:
    """``node bootstrap.js`` (our RIC, which reads ``_HANDLER``), with layers on ``NODE_PATH``."""

    runtime: str
    """``nodejs20.x``."""
    major: int
    interpreters: Interpreters

    def executable(self) -> str | None:
        """The configured ``node``, else the one on ``PATH``."""
        return self.interpreters.override(self.runtime) or shutil.which("node")

    def unavailable_reason(self) -> str | None:
        """Why no Node.js of this major version runs here, or ``None``."""
        node = self.executable()
        if node is None:
            detail = "no node executable found"
        else:
            version = self.interpreters.probe((node, "--version"))
            if version is not None and version.startswith(f"v{self.major}."):
                return None
            if version is None:
                detail = f"{node} does not run"
            else:
                detail = f"{node} is {version}, not Node.js {self.major}"
        return _unavailable(self.runtime, detail, f"install Node.js {self.major}")

    def command(self, spec: LaunchSpec) -> list[str]:
        """Run our bootstrap; it takes the handler from ``_HANDLER``."""
        node = self.executable()
        if node is None:
            raise BackendError(self.unavailable_reason() or self.runtime)
        return [node, str(NODE_BOOTSTRAP)]

    def environment(self, spec: LaunchSpec) -> dict[str, str]:
        """``NODE_PATH`` in AWS's order: ``/opt/nodejs/nodeNN/node_modules``,
        ``/opt/nodejs/node_modules``, then the code (``/var/task``)."""
        layers = spec.layer_dirs[::-1]
        return {
            **layer_environment(spec),
            "NODE_PATH": _paths(
                [layer / "nodejs" / f"node{self.major}" / "node_modules" for layer in layers],
                [layer / "nodejs" / "node_modules" for layer in layers],
                [spec.code_dir],
            ),
        }


@attrs.frozen
class ProvidedLauncher:
    """The function's own ``bootstrap`` (custom runtimes: ``provided.al2023``, ...)."""

    def unavailable_reason(self) -> str | None:
        """Custom runtimes bring their own bootstrap: always available."""
        return None

    def command(self, spec: LaunchSpec) -> list[str]:
        """Run ``bootstrap`` from the code, else from a layer (AWS's ``/opt/bootstrap``).

        A shell script is run with bash, as Amazon Linux's ``/bin/sh`` would. A missing
        bootstrap still gives an argv: starting it fails, as AWS's ``Runtime.InvalidEntrypoint``.
        """
        bootstrap = find_bootstrap(spec)
        return [*shell_for(bootstrap), str(bootstrap)]

    def environment(self, spec: LaunchSpec) -> dict[str, str]:
        """Only the layers' ``bin`` and ``lib``."""
        return layer_environment(spec)


def find_bootstrap(spec: LaunchSpec) -> Path:
    """``bootstrap`` in the code, else in the last layer that has one, else the code's (missing)."""
    candidates = [spec.code_dir / "bootstrap", *(d / "bootstrap" for d in spec.layer_dirs[::-1])]
    return next((path for path in candidates if path.is_file()), candidates[0])


def shell_for(script: Path) -> list[str]:
    """``[bash, ARG]`` for a script with a ``sh`` or ``bash`` shebang, else ``[]`` (exec it)."""
    try:
        with script.open("rb") as fh:
            first_line = fh.readline(256)
    except OSError:
        return []
    match = _SHELL_SHEBANG.fullmatch(first_line)
    bash = shutil.which("bash")
    if match is None or bash is None:
        return []
    argument = match.group(1)
    return [bash, os.fsdecode(argument)] if argument else [bash]
