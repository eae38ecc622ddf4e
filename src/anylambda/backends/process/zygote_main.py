"""The zygote: a Python interpreter with awslambdaric imported that forks instances on demand.

Run as a script by the interpreter it serves (``PYTHON zygote_main.py SERVER_PID FD``),
which need not have anylambda installed: this file uses the standard library only. It reads
fork requests from the control socket on fd ``FD`` (``SOCK_SEQPACKET``): one JSON message
``{"argv": [...], "env": {...}, "cwd": "..."}`` with four file descriptors (the instance's
stdin, stdout, stderr and a status pipe), and answers ``{"pid": N}`` (or ``{"error": "..."}``).
It reaps its children and writes each one's wait status, as decimal text, to its status
pipe. It exits when the control socket closes, and (``PR_SET_PDEATHSIG``) when the server dies.
"""

import atexit
import contextlib
import ctypes
import json
import os
import runpy
import select
import signal
import socket
import sys
import time
import traceback

#: Largest fork request, in bytes (Lambda's environment is at most 4 KB).
MAX_REQUEST = 1 << 20
_PR_SET_PDEATHSIG = 1
#: The package whose ``-m`` main the zygote runs; re-imported in each child, so that what it
#: reads from the environment at import time is read from the instance's.
RIC = "awslambdaric"
#: awslambdaric's native Runtime API client, imported afresh by each child.
NATIVE = "runtime_client"


def _die_with(server_pid: int) -> None:
    """Get SIGKILL when the server dies; exit now if it already has."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != server_pid:
        os._exit(0)


def _preload() -> None:
    """Import the client, its dependencies and what its first request imports lazily.

    Not the client's native extension, ``runtime_client``: its state (the Runtime API
    address, libcurl's) is set once, when it is first loaded, so each child loads it.
    """
    import http.client  # noqa: F401

    sys.modules[NATIVE] = None  # type: ignore[assignment]  # awslambdaric copes without it
    try:
        import awslambdaric.__main__
        import awslambdaric.bootstrap  # noqa: F401
    finally:
        del sys.modules[NATIVE]


def _fresh_path(cwd: str, pythonpath: str, base: list[str]) -> list[str]:
    """``sys.path`` as ``python -m`` builds it: the cwd, then ``PYTHONPATH`` and the
    interpreter's own entries made absolute and de-duplicated (as ``site`` does)."""
    seen: set[str] = set()
    path = [cwd]
    for entry in [*(pythonpath.split(os.pathsep) if pythonpath else []), *base]:
        absolute = os.path.abspath(entry)
        if absolute not in seen:
            seen.add(absolute)
            path.append(absolute)
    return path


def _exit_code(exc: SystemExit) -> int:
    """The status the interpreter exits with for ``exc``, printing a message code as it does."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return 1


def _become(request: dict, fds: list[int], base: list[str], startup: dict[str, str]) -> None:
    """In the forked child: turn into ``python -m awslambdaric ...`` as a fresh process; exit."""
    code = 1
    try:
        os.setsid()
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        for fd in set(fds):
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update({**request["env"], **startup})
        time.tzset()
        sys.path[:] = _fresh_path(os.getcwd(), os.environ.get("PYTHONPATH", ""), base)
        sys.argv[:] = ["-m", *request["argv"][3:]]
        for name in [n for n in sys.modules if n == RIC or n.startswith(RIC + ".")]:
            del sys.modules[name]
        sys.modules["__main__"] = type(sys)("__main__")
        try:
            runpy._run_module_as_main(RIC)  # type: ignore[attr-defined]
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc)
        except BaseException:
            traceback.print_exc()
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    finally:
        os._exit(code)


class Zygote:
    """The fork loop: requests in, children out, wait statuses to each child's status pipe."""

    def __init__(self, control_fd: int) -> None:
        self.control = socket.socket(fileno=control_fd)
        self.wakeup_r, self.wakeup_w = os.pipe()
        os.set_blocking(self.wakeup_w, False)
        self.status_fds: dict[int, int] = {}
        self.base = list(sys.path)
        # The zygote was given only the startup variables: what else is there, the interpreter
        # set while starting (LC_CTYPE, coercing a C locale), as it does in a fresh instance.
        self.startup_environ = dict(os.environ)

    def run(self) -> None:
        signal.set_wakeup_fd(self.wakeup_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        while True:
            readable, _, _ = select.select([self.control, self.wakeup_r], [], [])
            if self.wakeup_r in readable:
                os.read(self.wakeup_r, 4096)
                self.reap()
            if self.control in readable and not self.serve_one():
                return

    def serve_one(self) -> bool:
        """Handle one fork request; ``False`` when the server has closed the socket."""
        try:
            data, fds, _, _ = socket.recv_fds(self.control, MAX_REQUEST, 4)
        except InterruptedError:
            return True
        if not data:
            return False
        try:
            answer = {"pid": self.fork(json.loads(data), fds)}
        except Exception as exc:
            for fd in fds[3:]:
                os.close(fd)
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            for fd in fds[:3]:
                os.close(fd)
        self.control.send(json.dumps(answer).encode())
        return True

    def fork(self, request: dict, fds: list[int]) -> int:
        if len(fds) != 4:
            raise ValueError(f"expected 4 file descriptors, got {len(fds)}")
        pid = os.fork()
        if pid == 0:
            self.forget()
            _become(request, fds, self.base, self.startup_environ)
        self.status_fds[pid] = fds[3]
        return pid

    def forget(self) -> None:
        """In the child: drop everything of the zygote's (handlers, sockets, other pipes)."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        self.control.close()
        for fd in (self.wakeup_r, self.wakeup_w, *self.status_fds.values()):
            os.close(fd)
        self.status_fds.clear()

    def reap(self) -> None:
        """Collect every exited child and report its wait status."""
        while self.status_fds:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            fd = self.status_fds.pop(pid, None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.write(fd, str(status).encode())
                os.close(fd)


def main() -> None:
    _die_with(int(sys.argv[1]))
    del sys.path[0]  # this script's directory: not on a fresh interpreter's path
    _preload()
    Zygote(int(sys.argv[2])).run()


if __name__ == "__main__":
    main()
