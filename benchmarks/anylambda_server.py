"""A real ``anylambda serve`` on a temporary data directory, and the functions it runs."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from benchmarks import client, handlers
from benchmarks.processes import instance_pids, poll, rss_kb, stop_group

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
RUNTIME = "python3.11"
FUNCTIONS_PATH = "/2015-03-31/functions"
START_TIMEOUT = 60.0
_LISTENING = re.compile(rb"listening on http://127\.0\.0\.1:(\d+)")


def invoke_path(name: str) -> str:
    """The Lambda API's Invoke path for function ``name``."""
    return f"{FUNCTIONS_PATH}/{name}/invocations"


class AnylambdaServer:
    """A running ``anylambda serve``; creates functions over the Lambda API."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, data_dir: Path, backend: str):
        self.process = process
        self.port = port
        self.data_dir = data_dir
        self.backend = backend
        self._code = base64.b64encode(handlers.code_zip()).decode()

    def create_function(self, name: str, handler: str, timeout: int = 30) -> None:
        """CreateFunction for ``name`` running ``handler`` of the benchmark handlers."""
        body = {
            "FunctionName": name,
            "Runtime": RUNTIME,
            "Role": ROLE,
            "Handler": handler,
            "Timeout": timeout,
            "Code": {"ZipFile": self._code},
        }
        client.request(self.port, "POST", f"{FUNCTIONS_PATH}", json.dumps(body).encode())

    def invoke(self, name: str) -> bytes:
        """Invoke ``name`` once with the benchmark payload, on a new connection."""
        return client.request(self.port, "POST", invoke_path(name), handlers.PAYLOAD)

    def rss_kb(self) -> int:
        """The server process's resident memory (not its instances'), KiB."""
        return rss_kb(self.process.pid)

    def instance_count(self) -> int:
        """How many instances are running: child processes, or the backend's containers."""
        if self.backend == "process":
            return len(instance_pids(self.process.pid))
        from anylambda.backends.container.labels import SERVER_LABEL, server_id

        listing = subprocess.run(
            [
                *(self.backend, "ps", "--quiet"),
                *("--filter", f"label={SERVER_LABEL}={server_id(self.data_dir)}"),
            ],
            capture_output=True,
            check=True,
            timeout=30,
        )
        return len(listing.stdout.split())


@contextmanager
def running_server(
    workdir: Path, backend: str = "process", settings: Mapping[str, int | float | str] | None = None
) -> Iterator[AnylambdaServer]:
    """Start ``anylambda serve`` on a free port with its data in ``workdir``; stop it on exit.

    ``settings`` go into a config file; ``ANYLAMBDA_*`` variables of the calling
    environment are dropped so that they cannot override them.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    config = workdir / "anylambda.toml"
    config.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in (settings or {}).items()))
    stdout, log = workdir / "server.out", workdir / "server.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ANYLAMBDA_")}
    argv = [
        *(sys.executable, "-m", "anylambda.cli", "serve", "--port", "0"),
        *("--data-dir", str(data_dir), "--backend", backend, "--config", str(config)),
    ]
    with stdout.open("wb") as out, log.open("wb") as err:
        process = subprocess.Popen(
            argv,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    try:

        def listening() -> int | None:
            match = _LISTENING.search(stdout.read_bytes())
            if match is None and process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"anylambda serve exited with {process.returncode}:\n{tail}")
            return int(match.group(1)) if match else None

        port = poll(listening, START_TIMEOUT, "anylambda serve listening", interval=0.02)
        yield AnylambdaServer(process, port, data_dir, backend)
    finally:
        stop_group(process, grace=30.0)
