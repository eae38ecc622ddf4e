"""TCP connections on asyncio's protocol API, for the servers on the invocation's hot path.

anyio's socket streams yield to the event loop on every send and register and
unregister the socket with the selector around every receive: three system
calls and a loop turn per exchange, a third of what a Runtime API exchange
costs on a CI machine. A :class:`Stream` keeps the socket registered, buffers
what arrives, returns it without a loop turn when it is already there, and
writes at once; it waits only for data, or for the peer to drain a full
buffer. It also tells its owner at once when the peer goes away
(:meth:`Stream.on_hang_up`), with no task watching the socket.

Connections are still served by tasks in the caller's anyio task group
(:func:`accept`); only the byte transport is asyncio's, which anylambda's
servers run on (Quart requires it).
"""

from __future__ import annotations

import asyncio
import collections
import socket
from collections.abc import Callable

import anyio

__all__ = ["Stream", "accept", "listening_socket"]

#: Buffered bytes beyond which the stream stops reading until its owner catches up.
_READ_HIGH_WATER = 1 << 20


class Stream(asyncio.Protocol):
    """One connection: bytes in as they arrive, bytes out at once."""

    def __init__(self, connected: Callable[[Stream], None]) -> None:
        self._connected = connected
        self._transport: asyncio.Transport | None = None
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._reading_paused = False
        self._at_eof = False
        self._lost = False
        self._data_waiter: asyncio.Future[None] | None = None
        self._writing_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._hang_up: Callable[[], None] | None = None

    # --- asyncio's side ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """asyncio: the connection is accepted."""
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._connected(self)

    def data_received(self, data: bytes) -> None:
        """asyncio: bytes arrived."""
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > _READ_HIGH_WATER and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        """asyncio: the peer is done sending; keep the connection open to answer it."""
        self._at_eof = True
        self._wake_reader()
        self._hung_up()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        """asyncio: the connection is closed."""
        self._lost = True
        self._wake_reader()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        self._hung_up()

    def pause_writing(self) -> None:
        """asyncio: the send buffer is full."""
        self._writing_paused = True

    def resume_writing(self) -> None:
        """asyncio: the send buffer drained."""
        self._writing_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # --- the owner's side -------------------------------------------------------------

    @property
    def transport(self) -> asyncio.Transport:
        """The asyncio transport (for addresses; use :meth:`send` to write)."""
        assert self._transport is not None
        return self._transport

    @property
    def has_data(self) -> bool:
        """Whether :meth:`receive` would return at once, with data."""
        return bool(self._chunks)

    async def receive(self) -> bytes:
        """What arrived since the last call, waiting if nothing did; ``b""`` once it ends."""
        if not self._chunks and not self._at_eof and not self._lost:
            waiter = self._data_waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._data_waiter = None
        if not self._chunks:
            return b""
        data = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        if self._reading_paused and not self._lost:
            self._reading_paused = False
            self.transport.resume_reading()
        return data

    def write(self, data: bytes) -> None:
        """Write ``data`` now (buffered if the peer is slow; :meth:`send` also waits)."""
        if self._lost or self.transport.is_closing():
            raise anyio.BrokenResourceError
        self.transport.write(data)

    async def send(self, data: bytes) -> None:
        """Write ``data``; wait only if the peer lets the send buffer fill up."""
        self.write(data)
        if self._writing_paused:
            waiter = self._drain_waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._drain_waiter = None
            if self._lost:
                raise anyio.BrokenResourceError

    def on_hang_up(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` (once) when the peer stops sending or goes away; ``None``: don't."""
        self._hang_up = callback
        if callback is not None and (self._at_eof or self._lost):
            self._hung_up()

    async def linger(self, seconds: float) -> None:
        """Stop sending, then drop what the peer still sends until it stops (or ``seconds``).

        Closing a socket with unread input makes the kernel reset the connection,
        which can destroy an answer the peer has not read yet; this lets it read.
        """
        if self._lost or self._at_eof:
            return
        if self.transport.can_write_eof():
            self.transport.write_eof()
        with anyio.move_on_after(seconds):
            while await self.receive():
                pass

    def close(self) -> None:
        """Close the connection (what was sent still goes out)."""
        if self._transport is not None:
            self._transport.close()

    def _wake_reader(self) -> None:
        if self._data_waiter is not None and not self._data_waiter.done():
            self._data_waiter.set_result(None)

    def _hung_up(self) -> None:
        callback, self._hang_up = self._hang_up, None
        if callback is not None:
            callback()


async def accept(sock: socket.socket, connected: Callable[[Stream], None]) -> None:
    """Accept connections on the listening ``sock`` until cancelled; ``connected`` gets each.

    ``connected`` runs in the event loop's callback: it should start a task
    (in the caller's task group) that serves the stream and closes it. The
    caller owns ``sock`` (this closes it too, once it stops accepting).
    """
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Stream(connected), sock=sock, start_serving=False)
    try:
        # Started here, not by create_server: a cancellation while it starts must still
        # close it, or the event loop keeps watching a socket its owner is about to close.
        await server.start_serving()
        await anyio.sleep_forever()
    finally:
        server.close()


def listening_socket(host: str, port: int = 0, backlog: int = 1024) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(backlog)
    return sock
