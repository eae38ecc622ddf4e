"""AWS's Runtime Interface Emulator: fetched from the aws-sam-cli wheel once, run per benchmark.

RIE is AWS's reference implementation of a local Lambda (Go). It serves one
function on ``POST /2015-03-31/functions/function/invocations`` and starts the
runtime on the first invoke.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.processes import free_port, stop_group

#: The aws-sam-cli release whose RIE is measured; pinned so that runs compare.
SAM_CLI_VERSION = "1.170.0"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
_ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


def fetch_rie(cache_dir: Path) -> Path:
    """The RIE binary, extracted from the aws-sam-cli wheel into ``cache_dir`` on first use."""
    arch = _ARCHES.get(platform.machine().lower())
    if arch is None:
        raise RuntimeError(f"RIE is built for x86_64 and arm64, not {platform.machine()}")
    binary = cache_dir / f"aws-lambda-rie-{arch}-sam-{SAM_CLI_VERSION}"
    if binary.exists():
        return binary
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"),
                *("--disable-pip-version-check", "--dest", tmp),
                f"aws-sam-cli=={SAM_CLI_VERSION}",
            ],
            check=True,
            timeout=600,
        )
        wheel = next(Path(tmp).glob("aws_sam_cli-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(f"samcli/local/rapid/aws-lambda-rie-{arch}")
        partial = Path(tmp) / binary.name
        partial.write_bytes(data)
        partial.chmod(0o755)
        partial.replace(binary)
    return binary


class Rie:
    """A running RIE process (its own process group, with the runtime it starts)."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log

    @property
    def crashed(self) -> bool:
        """Whether the emulator has exited (it panics on a second concurrent invoke)."""
        return self.process.poll() is not None

    def panic(self) -> str | None:
        """The Go panic it last logged, if any (``panic: runtime error: ...``)."""
        lines = self.log.read_text(errors="replace").splitlines()
        return next((line for line in reversed(lines) if line.startswith("panic: ")), None)


@contextmanager
def running_rie(binary: Path, code_dir: Path, handler: str, log: Path) -> Iterator[Rie]:
    """Start RIE on free ports running ``handler`` with awslambdaric; stop its group on exit.

    The runtime is the harness's own interpreter, as on anylambda's process backend.
    Returns at once: the first invoke (which starts the runtime) is the caller's.
    """
    port, api_port = free_port(), free_port()
    argv = [
        str(binary),
        *("--runtime-interface-emulator-address", f"127.0.0.1:{port}"),
        *("--runtime-api-address", f"127.0.0.1:{api_port}"),
        *(sys.executable, "-m", "awslambdaric", handler),
    ]
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv,
            cwd=code_dir,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Rie(process, port, log)
    finally:
        stop_group(process, grace=2.0)
