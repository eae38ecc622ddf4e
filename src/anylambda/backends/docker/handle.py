"""One instance as the Docker backend tracks it: a container, its attach stream, its output pipe.

The backend attaches to the container *before* starting it, so nothing it
writes is lost, and reads the attach stream's socket without blocking. The
stream ends when the container does, which is how :meth:`ContainerHandle.supervise`
learns of the exit without holding an engine request open.

Zip functions write their output into an :class:`~anylambda.backends.docker.pipe.OutputPipe`
instead, which :meth:`ContainerHandle.flush_output` reads exactly up to the
moment a result arrives. Image functions keep Docker's path (their image may
have no shell to redirect with): output the engine is still relaying when a
result arrives lands in the next invocation's log, or only in the server log.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
from typing import Any

import anyio

from anylambda.backends.docker.engine import ConflictError, Engine, NotFoundError
from anylambda.backends.docker.frames import FrameDecoder
from anylambda.backends.docker.pipe import OutputPipe
from anylambda.backends.docker.spec import exit_status
from anylambda.core.errors import BackendError
from anylambda.core.interfaces import OutputSink
from anylambda.core.models import ExitStatus

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
        stream: Any,
        memory_size: int,
        pipe: OutputPipe | None = None,
    ) -> None:
        self.engine = engine
        #: The engine's full container id.
        self.id = container_id
        self.memory_size = memory_size
        self._stream = stream  # the SDK's socket object, kept so that nothing closes it early
        self._sock: socket.socket = raw_socket(stream)
        self._sock.setblocking(False)
        self._pipe = pipe
        self._decoder = FrameDecoder()
        self._sink: OutputSink | None = None
        self._eof = False

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
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_TIMEOUT):
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

    async def remove(self) -> None:
        """Kill and remove the container; nothing if it is gone or going already."""
        try:
            await self.engine.call(lambda api: api.remove_container(self.id, force=True))
        except (NotFoundError, ConflictError):
            pass
        except BackendError as exc:
            logger.warning("Could not remove container %s: %s", self.id[:12], exc.message)

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
            await self.engine.call(lambda api: api.wait(self.id))
            info = await self.engine.call(lambda api: api.inspect_container(self.id))
        except NotFoundError:
            # Removed by terminate() before the exit could be inspected: it was killed.
            return ExitStatus(code=None, signal=signal.SIGKILL)
        except BackendError as exc:
            # E.g. the engine restarted: the container is gone with it.
            return ExitStatus(code=None, reason=f"container lost: {exc.message}")
        return exit_status(info.get("State") or {}, self.memory_size)


def raw_socket(stream: Any) -> socket.socket:
    """The OS socket under the SDK's attach stream (a ``SocketIO`` over a unix or TCP socket)."""
    sock = getattr(stream, "_sock", stream)
    if not isinstance(sock, socket.socket):
        raise BackendError(
            f"Cannot read the container's output from a {type(stream).__name__}: the docker "
            "backend needs an engine on a unix socket or plain TCP on this host."
        )
    return sock
