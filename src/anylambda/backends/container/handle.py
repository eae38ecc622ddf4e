"""One instance as a container backend tracks it: a container, its attach stream, its output pipe.

The backend attaches to the container *before* starting it, so nothing it
writes is lost, and reads the attach stream's socket without blocking. The
stream ends when the container does, which is how :meth:`ContainerHandle.supervise`
learns of the exit without holding an engine request open.

Functions whose entrypoint can be wrapped in a shell write their output into an
:class:`~anylambda.backends.container.pipe.OutputPipe` instead, which
:meth:`ContainerHandle.flush_output` reads exactly up to the moment a result
arrives. Other images keep the engine's path: output the engine is still
relaying when a result arrives lands in the next invocation's log, or only in
the server log.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import TYPE_CHECKING

import anyio

from anylambda.backends.container.engine import Attached, ConflictError, Engine, NotFoundError
from anylambda.backends.container.frames import FrameDecoder
from anylambda.backends.container.status import KILLED, OomKillCounter, exit_status
from anylambda.core.errors import BackendError
from anylambda.core.models import ExitStatus

if TYPE_CHECKING:
    from anylambda.backends.container.leftovers import Leftovers
    from anylambda.backends.container.pipe import OutputPipe
    from anylambda.core.interfaces import OutputSink

#: Read at most this much of the attach stream at once.
READ_CHUNK = 64 * 1024
#: Seconds to wait for the engine to report the exit, and to remove the container.
CLEANUP_TIMEOUT = 15.0

logger = logging.getLogger(__name__)


class ContainerHandle:
    """A started container, where its output arrives, and how to clean it up."""

    def __init__(
        self,
        engine: Engine,
        container_id: str,
        attached: Attached,
        memory_size: int,
        leftovers: Leftovers,
        pipe: OutputPipe | None = None,
    ) -> None:
        self.engine = engine
        self._leftovers = leftovers
        #: The engine's full container id.
        self.id = container_id
        self.memory_size = memory_size
        self._stream = attached.stream  # the SDK's object, kept so that nothing closes it early
        self._sock: socket.socket = attached.sock
        self._sock.setblocking(False)
        self._pipe = pipe
        self._decoder = FrameDecoder()
        self._sink: OutputSink | None = None
        self._eof = False
        self._removing = False
        self._ooms = None if engine.reports_oom else OomKillCounter()

    async def supervise(self, on_output: OutputSink) -> ExitStatus:
        """Forward output until the container ends; say how it ended; remove it."""
        self._sink = on_output
        try:
            async with anyio.create_task_group() as tg:
                if self._pipe is not None:
                    tg.start_soon(self._pump_pipe, self._pipe)
                while not self._eof:
                    await anyio.wait_readable(self._sock)
                    self.flush_output()
                tg.cancel_scope.cancel()
            self.flush_output()
            with anyio.move_on_after(CLEANUP_TIMEOUT):
                return await self._exit_status()
            return ExitStatus(code=None, reason="the container engine did not report the exit")
        finally:
            self._sink = None
            self.close_streams()
            with anyio.CancelScope(shield=True):
                await self.remove()

    def flush_output(self) -> None:
        """Forward the output that has already arrived, without waiting."""
        if self._sink is None:
            return
        output = self._pipe.read() if self._pipe is not None else b""
        output += self._read_stream()
        # One call for all of it: each write() of the function comes as a piece of its own.
        if output:
            self._sink(output)

    async def pause(self) -> None:
        """Freeze the container's processes (soft idle); they keep their memory."""
        await self.engine.run(self.engine.pause, self.id)

    async def resume(self) -> None:
        """Thaw the container."""
        await self.engine.run(self.engine.unpause, self.id)

    async def remove(self) -> None:
        """Kill and remove the container; nothing if it is gone or going already.

        If the engine does not answer (it is restarting; Podman's containers may even
        live on), the container joins the backend's :class:`Leftovers`, removed once
        the engine answers again: an instance whose engine went away is reported gone
        at once rather than after the engine is back.
        """
        self._removing = True
        error = "the engine did not answer in time"
        with anyio.move_on_after(CLEANUP_TIMEOUT):
            try:
                await self.engine.run(self.engine.remove, self.id)
            except (NotFoundError, ConflictError):
                return
            except BackendError as exc:
                error = exc.message
            else:
                return
        logger.warning(
            "Could not remove container %s (%s): removing it once the engine answers again",
            self.id[:12],
            error,
        )
        self._leftovers.add(self.id)

    def close_streams(self) -> None:
        """Stop reading output (the container is unaffected)."""
        with contextlib.suppress(OSError):
            self._stream.close()
        with contextlib.suppress(OSError):
            self._sock.close()
        if self._pipe is not None:
            self._pipe.close()

    def _read_stream(self) -> bytes:
        output = bytearray()
        while not self._eof:
            try:
                data = self._sock.recv(READ_CHUNK)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                data = b""
            if not data:
                self._eof = True
            output += self._decoder.feed(data)
        return bytes(output)

    async def _pump_pipe(self, pipe: OutputPipe) -> None:
        while True:
            await anyio.wait_readable(pipe.fd)
            self.flush_output()

    async def _exit_status(self) -> ExitStatus:
        try:
            state = await self.engine.run(self.engine.exit_state, self.id)
        except NotFoundError:
            # Removed by terminate() before the exit could be inspected: it was killed.
            return KILLED
        except BackendError as exc:
            # E.g. the engine restarted: the container is gone with it.
            return ExitStatus(code=None, reason=f"container lost: {exc.message}")
        # A SIGKILL this backend sent (terminate) is never an out-of-memory kill.
        suspected = self._ooms is not None and not self._removing and self._ooms.fired()
        return exit_status(state, self.memory_size, oom_suspected=suspected)
