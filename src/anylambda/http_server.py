"""A lean HTTP/1.1 server for the ASGI app every frontend is mounted on.

It replaces Hypercorn on the Lambda API's listener: Invoke is the hot path,
and Hypercorn's per-request work (h11, a task per request, its stream
machinery) cost about 0.45 ms of CPU per request on a CI machine, more than
the Runtime API and the core together (see docs/performance.md). Requests are
framed by :mod:`anylambda.core.http1`; each connection is one task that runs
the app for one request after the other, with no task spawned per request.

What it serves: HTTP/1.0 and 1.1, keep-alive and pipelining, Content-Length
and chunked request bodies, ``Expect: 100-continue``, responses of known
length written in one piece (head and body), streamed ones chunked, the ASGI
``lifespan`` protocol. What it does not: HTTP/2, WebSockets, TLS. A client
that hangs up while the app works is noticed when the response is written,
not before (the app runs to its end, as an invocation does on AWS).
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import math
import socket
import time
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel

from anylambda.core.http1 import (
    BUFFERED_BODY,
    HttpError,
    RequestHead,
    RequestReader,
    response_head,
)
from anylambda.core.wire import Stream, accept

logger = logging.getLogger("anylambda.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Longest request head accepted (431 beyond it).
MAX_HEAD_BYTES = 64 * 1024
#: Seconds a connection may sit between requests (or take to send a head) before it is closed.
KEEP_ALIVE_SECONDS = 5.0
#: Seconds a closing connection keeps reading (and dropping) what the client still sends.
LINGER_SECONDS = 1.0
#: Response bytes gathered before a streamed response is put on the wire.
_GATHER_BYTES = 64 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})
_ASGI = {"version": "3.0", "spec_version": "2.3"}
_CLOSE = (b"connection", b"close")
_CHUNKED = (b"transfer-encoding", b"chunked")
_FORBIDDEN_IN_VALUES = (b"\r", b"\n", b"\0")


class _Date:
    """The ``Date`` header's value, formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def value(self) -> bytes:
        second = math.floor(time.time())
        if second != self._second:
            self._second = second
            self._value = email.utils.formatdate(second, usegmt=True).encode()
        return self._value


_date = _Date()


class _Response:
    """What the app sent of one response, and whether the connection survives it."""

    def __init__(
        self,
        send_bytes: Callable[[bytes], Awaitable[None]],
        head: RequestHead,
        must_close: Callable[[], bool],
    ) -> None:
        self._send_bytes = send_bytes
        self._request = head
        self._must_close = must_close
        self.keep_alive = head.keep_alive
        self.started = False
        """The app sent ``http.response.start``."""
        self.complete = False
        """The app sent its last body message."""
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._gathered: list[bytes] = []
        self._gathered_size = 0
        self._streaming = False
        """The head is on the wire; the rest goes out chunked (or until close, for HTTP/1.0)."""
        self._chunked = False

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            headers = []
            for raw_name, raw_value in message.get("headers", ()):
                name, value = bytes(raw_name).lower(), bytes(raw_value)
                if any(c in value or c in name for c in _FORBIDDEN_IN_VALUES):
                    raise ValueError(f"illegal response header {name!r}: {value!r}")
                if name != b"transfer-encoding":  # the framing is this server's
                    headers.append((name, value))
            self.started = True  # not before: a refused start still gets a 500
            self._status = int(message["status"])
            self._headers = headers
        elif kind == "http.response.body":
            if not self.started or self.complete:
                raise RuntimeError("http.response.body outside of a response")
            body = bytes(message.get("body", b""))
            more = bool(message.get("more_body", False))
            await self._body(body, more)
        # Other messages (trailers, pushes) are of extensions this server does not offer.

    async def _body(self, body: bytes, more: bool) -> None:
        if not more:
            self.complete = True
        if self._streaming:
            await self._write_streamed(body, last=not more)
            return
        if body:
            self._gathered.append(body)
            self._gathered_size += len(body)
        if more and self._gathered_size < _GATHER_BYTES:
            return
        gathered = b"".join(self._gathered)
        self._gathered = []
        if not more:
            await self._send_bytes(self._head(len(gathered)) + self._payload(gathered))
            return
        self._streaming = True
        await self._send_bytes(self._head(None))
        await self._write_streamed(gathered, last=False)

    def _head(self, length: int | None) -> bytes:
        """The head with the framing headers this server decides: length, chunking, closing."""
        headers = self._headers
        declared = any(name == b"content-length" for name, _ in headers)
        bodiless = self._status in _NO_BODY_STATUSES or self._status < 200
        if not declared and not bodiless:
            if length is not None:
                headers.append((b"content-length", b"%d" % length))
            elif self._request.version == b"1.1":
                self._chunked = True
                headers.append(_CHUNKED)
            else:
                self.keep_alive = False  # HTTP/1.0: the body ends with the connection
        if self._must_close():
            self.keep_alive = False
        if not self.keep_alive:
            headers.append(_CLOSE)
        headers.append((b"date", _date.value()))
        return response_head(self._status, headers)

    def _payload(self, body: bytes) -> bytes:
        if self._request.method == b"HEAD" or self._status in _NO_BODY_STATUSES:
            return b""
        return body

    async def _write_streamed(self, body: bytes, *, last: bool) -> None:
        body = self._payload(body)
        if self._chunked:
            data = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
            if last:
                data += b"0\r\n\r\n"
        else:
            data = body
        if data:
            await self._send_bytes(data)


class _Connection:
    """One client connection: its requests, one after the other, each run through the app."""

    def __init__(self, stream: Stream, app: ASGIApp) -> None:
        self._stream = stream
        self._app = app
        self._server = _address(stream.transport.get_extra_info("sockname"))
        self._client = _address(stream.transport.get_extra_info("peername"))
        self._reader = RequestReader(stream.receive, stream.send, max_head=MAX_HEAD_BYTES)
        self._idle = anyio.CancelScope()
        """Scope of the wait for the next request; cancelled to close an idle connection."""
        self._closing = False
        self._unread_input = False
        """Part of a request was left unread: the connection closes once it is answered."""

    def close_when_idle(self) -> None:
        """Finish the request in progress, if any, and take no other."""
        self._closing = True
        self._idle.cancel()

    async def run(self) -> None:
        """Serve the connection's requests until it closes, breaks or idles out."""
        try:
            try:
                while not self._closing:
                    head = None
                    with self._idle:
                        self._idle.deadline = anyio.current_time() + KEEP_ALIVE_SECONDS
                        head = await self._reader.head()
                    self._idle = anyio.CancelScope()
                    if head is None or not await self._serve(head):
                        break
                    if self._reader.buffered or self._stream.has_data:
                        await anyio.lowlevel.checkpoint()  # pipelined: let others have a turn
            except HttpError as exc:
                self._unread_input = True
                await self._refuse(exc.status, exc.message)
            if self._unread_input:
                # The client may still be sending what was not read: closing now would
                # reset the connection, and could destroy the answer on its way.
                await self._stream.linger(LINGER_SECONDS)
        except anyio.BrokenResourceError:
            pass
        finally:
            self._stream.close()

    async def _serve(self, head: RequestHead) -> bool:
        """Run the app for one request; whether the connection can take another."""
        whole = self._reader.buffered_body(head)
        body = None if whole is not None else self._reader.chunks(head)
        body_read = body is None
        """The whole body is off the wire."""
        unread = head.content_length  # for a chunked body: unknown until its last chunk
        delivered = False
        """The app has the whole body (or was told the client is gone)."""
        unreadable: HttpError | None = None
        response_done = anyio.Event()

        async def receive() -> Message:
            nonlocal body_read, unread, delivered, unreadable
            if delivered:
                await response_done.wait()
                return {"type": "http.disconnect"}
            if body is None:
                delivered = True
                return {"type": "http.request", "body": whole, "more_body": False}
            try:
                piece = await anext(body, b"")
            except HttpError as exc:  # refused once the app is done
                unreadable, delivered = exc, True
                return {"type": "http.disconnect"}
            unread -= len(piece)
            body_read = delivered = not piece or unread == 0
            return {"type": "http.request", "body": piece, "more_body": not delivered}

        # Closing after this response: the server stops, or the rest of the body is unread.
        response = _Response(self._stream.send, head, lambda: self._closing or not body_read)
        try:
            await self._app(self._scope(head, body is None), receive, response.send)
        except anyio.BrokenResourceError:
            return False
        except Exception:
            logger.exception("Error serving %s %s", head.method.decode(), _path(head.target))
            if not response.started and unreadable is None:
                await self._refuse(500, "Internal Server Error")
            return False
        finally:
            response_done.set()
            self._unread_input = not body_read
        if unreadable is not None and not response.started:
            raise unreadable
        if not response.complete:
            if not response.started:
                await self._refuse(500, "Internal Server Error")
            return False
        return response.keep_alive and not self._closing

    def _scope(self, head: RequestHead, body_buffered: bool) -> Scope:
        raw_path, _, query = head.target.partition(b"?")
        return {
            "type": "http",
            "asgi": _ASGI,
            "http_version": head.version.decode(),
            "method": head.method.decode(),
            "scheme": "http",
            "path": _path(raw_path),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": head.headers,
            "client": self._client,
            "server": self._server,
            "extensions": {BUFFERED_BODY: {}} if body_buffered else {},
        }

    async def _refuse(self, status: int, message: str) -> None:
        """Answer a request that could not be read, and close."""
        head = response_head(
            status,
            [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", b"%d" % len(message.encode())),
                _CLOSE,
                (b"date", _date.value()),
            ],
        )
        with contextlib.suppress(anyio.BrokenResourceError):
            await self._stream.send(head + message.encode())


def _address(name: object) -> tuple[str, int] | None:
    """An ASGI ``(host, port)`` of a socket address (``None`` if it is not an IP one)."""
    return (str(name[0]), int(name[1])) if isinstance(name, tuple) else None


def _path(raw_path: bytes) -> str:
    return urllib.parse.unquote(raw_path.decode("latin-1"))


class _Lifespan:
    """The app's ``lifespan`` protocol: startup before serving, shutdown after."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._to_app = anyio.create_memory_object_stream[Message](2)
        self._started = anyio.Event()
        self._stopped = anyio.Event()
        self._failure: str | None = None

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Run the app's lifespan; started once its startup is complete.

        An app that does not speak the protocol (it raises at once) is served
        all the same; one whose startup fails stops the server.
        """
        send_stream, receive_stream = self._to_app
        with send_stream, receive_stream:
            await send_stream.send({"type": "lifespan.startup"})
            try:
                await self._app(
                    {"type": "lifespan", "asgi": _ASGI, "state": {}},
                    receive_stream.receive,
                    self._from_app(task_status),
                )
            except Exception:
                if self._started.is_set() or self._failure is not None:
                    raise
                logger.debug("the app does not support the lifespan protocol", exc_info=True)
            if self._failure is not None:
                raise RuntimeError(f"the app failed to start: {self._failure}")
            if not self._started.is_set():
                task_status.started()

    def _from_app(self, task_status: anyio.abc.TaskStatus[None]) -> Send:
        async def send(message: Message) -> None:
            kind = message["type"]
            if kind == "lifespan.startup.complete":
                self._started.set()
                task_status.started()
            elif kind == "lifespan.startup.failed":
                self._failure = str(message.get("message", ""))
            elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                self._stopped.set()

        return send

    async def shut_down(self) -> None:
        """Tell the app the server stops, and wait until it is done."""
        if self._started.is_set():
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await self._to_app[0].send({"type": "lifespan.shutdown"})
                await self._stopped.wait()


class _Connections:
    """The open connections, and when the last of them closed."""

    def __init__(self) -> None:
        self._open: set[_Connection] = set()
        self._none_open = anyio.Event()
        self._none_open.set()

    async def serve(self, connection: _Connection) -> None:
        """Run ``connection``, counted as open until it ends."""
        if not self._open:
            self._none_open = anyio.Event()
        self._open.add(connection)
        try:
            await connection.run()
        finally:
            self._open.discard(connection)
            if not self._open:
                self._none_open.set()

    async def drain(self) -> None:
        """Close idle connections; return once the busy ones are done too."""
        for connection in list(self._open):
            connection.close_when_idle()
        await self._none_open.wait()


async def serve_asgi(
    app: ASGIApp,
    sock: socket.socket,
    *,
    stop: anyio.Event,
    grace: float,
) -> None:
    """Serve ``app`` on the listening ``sock`` until ``stop`` is set.

    Then stop accepting, close idle connections, give the requests in progress
    up to ``grace`` seconds to finish, and cancel what is left.
    """
    connections = _Connections()
    lifespan = _Lifespan(app)
    async with anyio.create_task_group() as tg:
        await tg.start(lifespan.run)
        async with anyio.create_task_group() as serving:

            def connected(stream: Stream) -> None:
                serving.start_soon(connections.serve, _Connection(stream, app))

            accepting = anyio.CancelScope()
            serving.start_soon(_accept_until, accepting, sock, connected)
            await stop.wait()
            accepting.cancel()
            with anyio.move_on_after(grace):
                await connections.drain()
            serving.cancel_scope.cancel()
        with anyio.move_on_after(grace):
            await lifespan.shut_down()
        tg.cancel_scope.cancel()


async def _accept_until(
    scope: anyio.CancelScope, sock: socket.socket, connected: Callable[[Stream], None]
) -> None:
    with scope:
        await accept(sock, connected)
