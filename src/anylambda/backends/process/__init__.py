"""The process backend: each instance is a local subprocess in its own process group.

Isolation is that of a host process: the function runs as the server's user,
sees the host's filesystem and network, and is not limited in memory or CPU.
What it does give: a clean Lambda environment (only AWS's variables and the
function's own), the unpacked code (read-only) as working directory, output
captured per invocation, and a hard kill of the whole process group on
timeout, eviction or shutdown. A server killed before it could clean up leaves
a pid file per instance; the next server kills those process groups at start.
Python instances are forked from a pre-initialised interpreter (``zygote``) unless
``python_zygote`` is off.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import anyio

from anylambda.backends.process.zygote import ExitPipe, Zygotes, forkable
from anylambda.core.config import Config
from anylambda.core.errors import BackendError, InvalidParameterValueError, LaunchError
from anylambda.core.interfaces import OutputSink
from anylambda.core.models import ExitStatus, FunctionConfig, LaunchSpec, RuntimeRecipe
from anylambda.core.plugins import hookimpl

logger = logging.getLogger(__name__)

#: Read at most this much output at once.
READ_CHUNK = 64 * 1024


#: Waits for an instance's process to exit: its exit code, negative for a signal.
Waiter = Callable[[], Awaitable[int]]
#: A started instance: its pid, how to wait for it, what to release after.
Started = tuple[int, Waiter, Callable[[], None]]


class ProcessHandle:
    """A running instance: its process group, how to wait for it, its output pipe, pid file."""

    def __init__(
        self,
        pid: int,
        wait: Waiter,
        output_fd: int,
        pidfile: Path,
        on_close: Callable[[], None] = lambda: None,
    ) -> None:
        self.pid = pid
        self._wait = wait
        self._fd = output_fd
        self._pidfile = pidfile
        self._on_close = on_close
        self._sink: OutputSink | None = None

    async def supervise(self, on_output: OutputSink) -> ExitStatus:
        """Forward output until the process exits; then collect what is left and clean up."""
        self._sink = on_output
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._pump)
                code = await self._wait()
                self.flush_output()
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                self.kill()
                with anyio.move_on_after(2):
                    await self._wait()
                self._sink = None
                os.close(self._fd)
                self._on_close()
                self._pidfile.unlink(missing_ok=True)
        if code < 0:
            return ExitStatus(code=None, signal=-code)
        return ExitStatus(code=code)

    def flush_output(self) -> None:
        """Read whatever output is already in the pipe, without waiting."""
        while self._sink is not None:
            try:
                chunk = os.read(self._fd, READ_CHUNK)
            except (BlockingIOError, OSError):
                return
            if not chunk:
                return
            self._sink(chunk)

    async def pause(self) -> None:
        """SIGSTOP the process group: it keeps its memory and uses no CPU."""
        self._signal(signal.SIGSTOP)

    async def resume(self) -> None:
        """SIGCONT the process group."""
        self._signal(signal.SIGCONT)

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL the whole process group (stopped ones too); nothing if it is already gone."""
        self._signal(signal.SIGKILL)

    async def _pump(self) -> None:
        while True:
            await anyio.wait_readable(self._fd)
            self.flush_output()


class ProcessBackend:
    """Runs each instance as a host subprocess."""

    name: ClassVar[str] = "process"
    runtime_api_host = "127.0.0.1"

    def __init__(self, config: Config) -> None:
        self._pids = config.data_dir / "instances"
        self._zygotes = Zygotes(self._record) if config.python_zygote else None

    async def validate(self, function: FunctionConfig, recipe: RuntimeRecipe | None) -> None:
        """Refuse images, and runtimes this host cannot run (saying what is missing)."""
        if function.settings.package_type != "Zip" or recipe is None:
            raise InvalidParameterValueError(
                "The process backend runs .zip functions only; "
                "start the server with --backend docker or podman for container images."
            )
        if recipe.host is None:
            raise InvalidParameterValueError(
                f"Runtime {recipe.name} cannot run as a host process; use a container backend."
            )
        reason = await anyio.to_thread.run_sync(recipe.host.unavailable_reason)
        if reason is not None:
            raise InvalidParameterValueError(reason)

    async def prepare(self, function: FunctionConfig, recipe: RuntimeRecipe | None) -> None:
        """Nothing to do: the core has already unpacked the code."""

    async def launch(self, spec: LaunchSpec) -> ProcessHandle:
        """Start the runtime in the code directory, in a new session and process group:
        forked from a zygote where it can be, else as a new process."""
        assert spec.recipe is not None and spec.recipe.host is not None
        host = spec.recipe.host
        argv = host.command(spec)
        environment = {**host.environment(spec), **spec.environment}
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        try:
            pid, wait, on_close = await self._start(argv, environment, spec.code_dir, write_fd)
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        pidfile = await anyio.to_thread.run_sync(self._record, spec.instance_id, pid)
        return ProcessHandle(pid, wait, read_fd, pidfile, on_close)

    async def _start(
        self, argv: Sequence[str], environment: Mapping[str, str], cwd: Path, output_fd: int
    ) -> Started:
        """Fork from a zygote where one is running; else, or if the zygote fails, spawn (and
        start a zygote for the next launches)."""
        if self._zygotes is None or not forkable(argv):
            return await self._spawn(argv, environment, cwd, output_fd)
        try:
            forked = await self._fork(argv, environment, cwd, output_fd)
        except BackendError as exc:
            logger.warning("Starting a new process instead of forking one: %s", exc.message)
            forked = None
        if forked is not None:
            return forked
        spawned = await self._spawn(argv, environment, cwd, output_fd)
        try:
            await self._zygotes.start(argv, environment)
        except BackendError as exc:
            logger.warning("No zygote: %s", exc.message)
        return spawned

    async def _spawn(
        self, argv: Sequence[str], environment: Mapping[str, str], cwd: Path, output_fd: int
    ) -> Started:
        try:
            process = await anyio.open_process(
                argv,
                cwd=cwd,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=output_fd,
                stderr=output_fd,
                start_new_session=True,
            )
        except OSError as exc:
            raise LaunchError(f"fork/exec {argv[0]}: {exc.strerror.lower()}") from exc
        return process.pid, process.wait, lambda: None

    async def _fork(
        self, argv: Sequence[str], environment: Mapping[str, str], cwd: Path, output_fd: int
    ) -> Started | None:
        assert self._zygotes is not None
        status_r, status_w = os.pipe()
        os.set_blocking(status_r, False)
        devnull = os.open(os.devnull, os.O_RDONLY)
        try:
            fds = (devnull, output_fd, output_fd, status_w)
            pid = await self._zygotes.fork(argv, environment, cwd, fds)
        except BaseException:
            os.close(status_r)
            raise
        finally:
            os.close(devnull)
            os.close(status_w)
        if pid is None:
            os.close(status_r)
            return None
        exit_pipe = ExitPipe(status_r, pid)
        return pid, exit_pipe.wait, exit_pipe.close

    async def terminate(self, handle: ProcessHandle) -> None:  # type: ignore[override]
        """Kill the instance's process group (idempotent)."""
        handle.kill()

    async def reap_stale(self) -> None:
        """Kill the process groups an earlier, killed server left running."""
        for pidfile in _pidfiles(self._pids):
            try:
                record = json.loads(pidfile.read_text())
            except (OSError, ValueError):
                pidfile.unlink(missing_ok=True)
                continue
            # A leader that already exited can leave its group behind (children of the
            # runtime); a live leader must be the same process, not a reused pid.
            if _start_time(record["pid"]) in (None, record["start_time"]):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(record["pid"], signal.SIGKILL)
            pidfile.unlink(missing_ok=True)

    async def aclose(self) -> None:
        """Kill the zygotes (instances are stopped by the core)."""
        if self._zygotes is not None:
            await self._zygotes.aclose()

    def _record(self, instance_id: str, pid: int) -> Path:
        self._pids.mkdir(parents=True, exist_ok=True)
        pidfile = self._pids / f"{instance_id}.json"
        pidfile.write_text(json.dumps({"pid": pid, "start_time": _start_time(pid)}))
        return pidfile


def _pidfiles(directory: Path) -> Iterable[Path]:
    return directory.glob("*.json") if directory.is_dir() else ()


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


@hookimpl
def anylambda_add_backends() -> list[type[ProcessBackend]]:
    """Contribute the process backend."""
    return [ProcessBackend]
