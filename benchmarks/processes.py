"""Processes the harness starts: free ports, bounded waits, clean stops, memory readings."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.005) -> T:
    """Call ``probe`` until it returns something other than None; TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not after {timeout:g} s")
        time.sleep(interval)


def stop_group(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM ``process``'s group (it leads one), SIGKILL it after ``grace`` seconds; reap it."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)
            break
    # A group outlives its leader when the leader's children linger.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def rss_kb(pid: int) -> int:
    """The resident set size of process ``pid``, in KiB (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def child_pids(pid: int) -> list[int]:
    """The direct children of ``pid``, from every thread's ``children`` list."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            children.extend(int(c) for c in (task / "children").read_text().split())
    return children


def instance_pids(server_pid: int) -> list[int]:
    """The process backend's instances: the server's children, with each of its Python
    zygotes (which are not instances) replaced by the instances it forked."""
    found: list[int] = []
    for pid in child_pids(server_pid):
        try:
            zygote = b"zygote_main.py" in Path(f"/proc/{pid}/cmdline").read_bytes()
            found.extend(child_pids(pid) if zygote else [pid])
        except FileNotFoundError:
            continue  # exited meanwhile
    return found
