"""Zygotes: pre-initialised Python interpreters that fork instances of Python functions.

One zygote runs per interpreter and *startup environment* (the variables a Python reads
only while it starts: ``PYTHON*`` but ``PYTHONPATH``, the locale's, ``HOME``), so that a
forked instance's interpreter is configured as a fresh one would be; it holds nothing of
any function. See ``zygote_main.py`` for the protocol and docs/backends.md for the design.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import anyio
import anyio.abc

from anylambda.core.errors import BackendError

#: The program each zygote runs.
MAIN = Path(__file__).with_name("zygote_main.py")
#: Seconds a zygote may take to answer a fork request.
FORK_TIMEOUT = 10.0
#: Largest answer of a zygote, in bytes.
MAX_ANSWER = 4096
#: Variables outside ``PYTHON*`` that a Python interpreter reads at start.
_STARTUP_NAMES = frozenset({"HOME", "LANG", "LANGUAGE"})

#: A zygote's identity: its interpreter and startup environment.
Key = tuple[str, frozenset[tuple[str, str]]]
#: Records a pid file for a process the backend started: (name, pid) -> path.
Recorder = Callable[[str, int], Path]


def forkable(argv: Sequence[str]) -> bool:
    """Whether ``argv`` is ``PYTHON -m awslambdaric ...``, which a zygote can fork."""
    return len(argv) >= 3 and list(argv[1:3]) == ["-m", "awslambdaric"]


def startup_environment(environment: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``environment`` that a Python interpreter reads only while it starts."""
    return {
        name: value
        for name, value in environment.items()
        if (name.startswith("PYTHON") and name != "PYTHONPATH")
        or name.startswith("LC_")
        or name in _STARTUP_NAMES
    }


class Zygote:
    """One zygote process and the control socket to it."""

    def __init__(self, process: anyio.abc.Process, control: socket.socket, pidfile: Path) -> None:
        self._process = process
        self._control = control
        self._pidfile = pidfile
        self._lock = anyio.Lock()

    @classmethod
    async def start(
        cls, interpreter: str, environment: Mapping[str, str], record: Recorder
    ) -> Zygote:
        """Start a zygote of ``interpreter`` with exactly ``environment``."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        try:
            process = await anyio.open_process(
                [interpreter, str(MAIN), str(os.getpid()), str(theirs.fileno())],
                env=dict(environment),
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=None,
                start_new_session=True,
                pass_fds=(theirs.fileno(),),
            )
        except OSError as exc:
            ours.close()
            raise BackendError(f"Cannot start a zygote of {interpreter}: {exc}") from exc
        finally:
            theirs.close()
        pidfile = await anyio.to_thread.run_sync(record, f"zygote-{process.pid}", process.pid)
        return cls(process, ours, pidfile)

    @property
    def alive(self) -> bool:
        """Whether the zygote still runs."""
        return self._process.returncode is None

    async def fork(
        self, argv: Sequence[str], environment: Mapping[str, str], cwd: Path, fds: Sequence[int]
    ) -> int:
        """Fork an instance running ``argv``; ``fds`` are its stdin, stdout, stderr and the
        pipe the zygote writes its wait status to. Raise ``BackendError`` if the zygote fails."""
        request = json.dumps({"argv": list(argv), "env": dict(environment), "cwd": str(cwd)})
        try:
            async with self._lock:
                if self._control.fileno() < 0:
                    raise BackendError("The zygote was stopped")
                with anyio.fail_after(FORK_TIMEOUT):
                    await anyio.wait_writable(self._control)
                    socket.send_fds(self._control, [request.encode()], list(fds))
                    await anyio.wait_readable(self._control)
                    answer = self._control.recv(MAX_ANSWER)
            reply = json.loads(answer) if answer else {"error": "it exited"}
        except (OSError, TimeoutError, ValueError) as exc:
            raise BackendError(f"The zygote failed: {exc!r}") from exc
        if "pid" not in reply:
            raise BackendError(f"The zygote could not fork: {reply.get('error')}")
        return int(reply["pid"])

    async def aclose(self) -> None:
        """Kill the zygote (its instances run on) and forget it."""
        self._control.close()
        if self._process.returncode is None:  # else its pid may be another process's now
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._process.pid, signal.SIGKILL)
        with anyio.CancelScope(shield=True), anyio.move_on_after(2):
            await self._process.wait()
        self._pidfile.unlink(missing_ok=True)


def _key(argv: Sequence[str], environment: Mapping[str, str]) -> Key:
    return (argv[0], frozenset(startup_environment(environment).items()))


class Zygotes:
    """The zygotes of a backend, started on first use and again if one dies."""

    def __init__(self, record: Recorder) -> None:
        self._record = record
        self._zygotes: dict[Key, Zygote] = {}
        self._lock = anyio.Lock()

    async def fork(
        self, argv: Sequence[str], environment: Mapping[str, str], cwd: Path, fds: Sequence[int]
    ) -> int | None:
        """Fork ``argv`` (``forkable``) from the zygote of its interpreter and environment;
        ``None`` if that zygote is not running (see ``start``). Raise ``BackendError`` if the
        zygote fails. A zygote that failed, or whose answer a cancellation left unread, is
        dropped."""
        key = _key(argv, environment)
        zygote = self._zygotes.get(key)
        if zygote is None or not zygote.alive:
            return None
        try:
            return await zygote.fork(argv, environment, cwd, fds)
        except BaseException:
            if self._zygotes.get(key) is zygote:
                del self._zygotes[key]
            await zygote.aclose()
            raise

    async def start(self, argv: Sequence[str], environment: Mapping[str, str]) -> None:
        """Start the zygote for ``argv``'s interpreter and environment, unless it is running.

        Called after a launch that found none; that launch starts its instance itself, as a
        zygote takes longer to be ready than one new process.
        """
        key = _key(argv, environment)
        async with self._lock:
            zygote = self._zygotes.get(key)
            if zygote is not None and zygote.alive:
                return
            if zygote is not None:
                await zygote.aclose()
            startup = dict(key[1])
            self._zygotes[key] = await Zygote.start(argv[0], startup, self._record)

    async def aclose(self) -> None:
        """Kill every zygote."""
        zygotes, self._zygotes = list(self._zygotes.values()), {}
        for zygote in zygotes:
            await zygote.aclose()


class ExitPipe:
    """The read end of the pipe a zygote writes one instance's wait status to."""

    def __init__(self, fd: int, pid: int) -> None:
        self._fd = fd
        self._pid = pid
        self._data = b""
        self._code: int | None = None

    async def wait(self) -> int:
        """The exit code, negative for a signal (as ``Popen.returncode``). If the zygote died
        first, the status is lost: the instance's process group is killed, and reported so."""
        while self._code is None:
            await anyio.wait_readable(self._fd)
            chunk = os.read(self._fd, 64)
            if chunk:
                self._data += chunk
            elif self._data:
                self._code = os.waitstatus_to_exitcode(int(self._data))
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._pid, signal.SIGKILL)
                self._code = -signal.SIGKILL
        return self._code

    def close(self) -> None:
        """Close the pipe."""
        os.close(self._fd)
