"""A container engine of a test's own, to restart at will without disturbing other tests.

The machine's engines serve every other test (and other work) at once, so a test that
restarts an engine starts its own: ``dockerd`` with its own data root, exec root,
socket and bridge (made here: with ``--bridge=none`` dockerd would delete the host's
``docker0``, the machine's engine's), and no iptables rules (its containers use the
host's network), or a Podman service with its own storage. It is started the way
``.ci/run`` starts the machine's (a plain process in a session of its own), stopped
with SIGTERM, and only ever this test's process is signalled. The Podman service keeps
the machine's ``/run/libpod`` (where its lock segment is marked as set up): with one of
its own it would take the machine for freshly booted and reset the locks the two share.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import attrs

#: Seconds an engine may take to answer once started, and to stop.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
#: Seconds copying an image into the engine may take.
LOAD_TIMEOUT = 180.0


@attrs.define
class PrivateEngine:
    """One engine process of this test, on its own socket under :attr:`root`."""

    backend: str
    """``docker`` or ``podman``: the CLI and the anylambda backend."""
    root: Path
    command: list[str]
    """How the engine is started (again after :meth:`restart`)."""
    cli: list[str]
    """The engine's CLI pointed at this engine."""
    url: str
    setup: list[list[str]] = attrs.Factory(list)
    """Commands run before the engine first starts (e.g. making its bridge)."""
    teardown: list[list[str]] = attrs.Factory(list)
    """Commands run after it last stops, to undo :attr:`setup`."""
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the engine and wait until it answers."""
        with (self.root / "engine.log").open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd="/",
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log_tail = (self.root / "engine.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the private {self.backend} engine did not start:\n{log_tail}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM the engine (it stops its containers first) and wait until it has exited."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    def restart(self) -> None:
        """Stop the engine and start it again, the same way."""
        self.stop()
        self.start()

    def answers(self) -> bool:
        """Whether the engine answers (``docker info``)."""
        done = subprocess.run(
            [*self.cli, "info"], capture_output=True, timeout=STOP_TIMEOUT, check=False
        )
        return done.returncode == 0

    def containers(self) -> list[str]:
        """The ids of every container on this engine, running or not."""
        done = subprocess.run(
            [*self.cli, "ps", "--all", "--quiet", "--no-trunc"],
            capture_output=True,
            text=True,
            timeout=STOP_TIMEOUT,
            check=True,
        )
        return done.stdout.split()

    def load(self, image: str) -> None:
        """Copy ``image`` from the machine's engine of the same kind into this one."""
        save = subprocess.Popen([self.backend, "save", image], stdout=subprocess.PIPE)
        load = subprocess.Popen(
            [*self.cli, "load"],
            stdin=save.stdout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert save.stdout is not None
        save.stdout.close()  # the load has it: a failed load ends the save (SIGPIPE)
        try:
            _, errors = load.communicate(timeout=LOAD_TIMEOUT)
            save.wait(timeout=LOAD_TIMEOUT)
        finally:
            for process in (save, load):
                if process.poll() is None:
                    process.kill()
                    process.wait()
        if save.returncode or load.returncode:
            raise RuntimeError(f"copying {image} failed: {errors.decode(errors='replace')}")


def _docker(root: Path) -> PrivateEngine:
    socket = root / "docker.sock"
    bridge = root.name  # al-XXXXXXXX: unique, and short enough for an interface name
    subnet = f"10.{random.randrange(100, 250)}.{random.randrange(256)}.1/24"
    command = [
        "dockerd",
        f"--data-root={root / 'data'}",
        f"--exec-root={root / 'x'}",  # short: containerd's socket paths live under it
        f"--pidfile={root / 'docker.pid'}",
        f"--host=unix://{socket}",
        f"--bridge={bridge}",
        "--iptables=false",
    ]
    url = f"unix://{socket}"
    return PrivateEngine(
        "docker",
        root,
        command,
        ["docker", "--host", url],
        url,
        setup=[
            ["ip", "link", "add", bridge, "type", "bridge"],
            ["ip", "addr", "add", subnet, "dev", bridge],
            ["ip", "link", "set", bridge, "up"],
        ],
        teardown=[["ip", "link", "delete", bridge]],
    )


def _podman(root: Path) -> PrivateEngine:
    storage = [f"--root={root / 'storage'}", f"--runroot={root / 'run'}"]
    url = f"unix://{root / 'podman.sock'}"
    command = ["podman", *storage, "system", "service", "--time=0", url]
    return PrivateEngine("podman", root, command, ["podman", *storage], url)


@contextlib.contextmanager
def private_engine(backend: str) -> Iterator[PrivateEngine]:
    """A started engine of ``backend``'s kind, removed with all it holds at the end."""
    root = Path(tempfile.mkdtemp(prefix="al-", dir="/tmp"))  # short, for socket paths
    engine = (_docker if backend == "docker" else _podman)(root)
    try:
        for command in engine.setup:
            subprocess.run(command, capture_output=True, timeout=30, check=True)
        engine.start()
        yield engine
    finally:
        engine.stop()
        for command in engine.teardown:
            subprocess.run(command, capture_output=True, timeout=30, check=False)
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


def _unmount_under(root: Path) -> None:
    """Unmount what the engine left mounted under ``root`` (namespaces, overlays), deepest first."""
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    for point in sorted((p for p in points if p.startswith(f"{root}{os.sep}")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, timeout=30, check=False)
