"""The HTTP/1.1 ASGI server, driven over real sockets with small ASGI apps and a Quart one."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import attrs
import h11
import pytest
from quart import Quart, request

from anylambda import http_server
from anylambda.core.wire import listening_socket
from anylambda.http_server import ASGIApp, Message, Receive, Scope, Send, serve_asgi


@attrs.frozen
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name]
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None


class Client:
    """One connection: raw bytes out, replies parsed by h11's client side."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    async def request(
        self,
        method: str = "GET",
        target: str = "/",
        body: bytes = b"",
        headers: Sequence[str] = (),
        version: str = "1.1",
    ) -> Reply:
        """Send a request (see :func:`http`) and read its reply."""
        await self.stream.send(http(method, target, body, headers, version))
        return await self.reply(method)

    async def reply(self, method: str = "GET") -> Reply:
        """The next reply, to a request of ``method`` sent raw."""
        if self.conn.our_state is h11.IDLE:  # tell h11 what was asked, for the framing
            self.conn.send(h11.Request(method=method, target="/", headers=[("Host", "test")]))
            self.conn.send(h11.EndOfMessage())
        with anyio.fail_after(5):
            response = await self.next_event()
            while isinstance(response, h11.InformationalResponse):
                response = await self.next_event()
            assert isinstance(response, h11.Response)
            body = b""
            while not isinstance(part := await self.next_event(), h11.EndOfMessage):
                body += part.data
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        headers = [(k.decode(), v.decode()) for k, v in response.headers]
        return Reply(response.status_code, headers, body)

    async def next_event(self) -> h11.Event:
        while (event := self.conn.next_event()) is h11.NEED_DATA:
            try:
                data = await self.stream.receive()
            except anyio.EndOfStream:
                data = b""
            self.conn.receive_data(data)
        return event

    async def closed(self) -> bytes:
        """What else arrives before the server closes the connection (within 5 s)."""
        data = self.conn.trailing_data[0]
        with anyio.fail_after(5):
            try:
                while True:
                    data += await self.stream.receive()
            except anyio.EndOfStream:
                return data


def http(
    method: str = "GET",
    target: str = "/",
    body: bytes = b"",
    headers: Sequence[str] = (),
    version: str = "1.1",
) -> bytes:
    """A raw request; a body goes with Content-Length."""
    lines = [f"{method} {target} HTTP/{version}", "Host: test", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@attrs.define
class Server:
    port: int
    stop: anyio.Event = attrs.field(factory=anyio.Event)
    stopped: anyio.Event = attrs.field(factory=anyio.Event)
    clients: list[Client] = attrs.field(factory=list)

    async def connect(self) -> Client:
        client = Client(await anyio.connect_tcp("127.0.0.1", self.port))
        self.clients.append(client)
        return client


@asynccontextmanager
async def serving(app: ASGIApp, *, grace: float = 5.0) -> AsyncIterator[Server]:
    """``app`` served on a free port; stopped on exit."""
    with listening_socket("127.0.0.1") as sock:
        server = Server(sock.getsockname()[1])

        async def run() -> None:
            await serve_asgi(app, sock, stop=server.stop, grace=grace)
            server.stopped.set()

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(run)
                try:
                    yield server
                finally:
                    server.stop.set()
        finally:
            for client in server.clients:
                await client.stream.aclose()


def start(status: int = 200, *headers: tuple[bytes, bytes]) -> Message:
    return {"type": "http.response.start", "status": status, "headers": list(headers)}


def body(data: bytes = b"", more: bool = False) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


async def read_body(receive: Receive) -> bytes | None:
    """The request body; ``None`` if the client is gone."""
    data = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        data += message["body"]
        if not message["more_body"]:
            return data


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the request body (nothing if it could not be read)."""
    if scope["type"] == "http" and (data := await read_body(receive)) is not None:
        await send(start(200, (b"x-method", scope["method"].encode())))
        await send(body(data))


async def ignore_body(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send(start(200))
        await send(body(b"not read"))


# --- keep-alive ------------------------------------------------------------------------


async def test_requests_follow_each_other_on_one_connection() -> None:
    async with serving(echo) as server:
        client = await server.connect()
        for n in range(3):
            reply = await client.request("POST", "/", b"n=%d" % n)
            assert (reply.status, reply.body) == (200, b"n=%d" % n)
            assert (reply.header("content-length"), reply.header("connection")) == ("3", None)
            assert reply.header("date")


async def test_pipelined_requests_are_answered_in_order() -> None:
    async with serving(echo) as server:
        client = await server.connect()
        await client.stream.send(http("POST", body=b"one") + http("GET") + http("PUT", body=b"3"))
        replies = [await client.reply(method) for method in ("POST", "GET", "PUT")]
        assert [(r.header("x-method"), r.body) for r in replies] == [
            ("POST", b"one"),
            ("GET", b""),
            ("PUT", b"3"),
        ]


async def test_a_flood_of_pipelined_requests_does_not_starve_other_connections() -> None:
    served: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # answers without ever waiting
            served.append(scope["path"])
            await send(start())
            await send(body())

    flood = 500
    async with serving(app) as server:
        flooder, other = await server.connect(), await server.connect()
        await flooder.stream.send(http(target="/flood") * flood)
        await other.stream.send(http(target="/other"))
        assert (await other.reply()).status == 200
        with anyio.fail_after(10):
            for _ in range(flood):
                await flooder.reply()
    assert served.index("/other") < flood - 1, "served only once the flood was over"


@pytest.mark.parametrize(
    ("version", "headers"),
    [("1.1", ["Connection: close"]), ("1.0", []), ("1.0", ["Connection: keep-alive, close"])],
)
async def test_a_request_that_closes_is_answered_then_the_connection_closes(
    version: str, headers: list[str]
) -> None:
    async with serving(echo) as server:
        client = await server.connect()
        request = http("POST", body=b"hi", headers=headers, version=version)
        await client.stream.send(request + http("GET"))  # the GET is not served
        reply = await client.reply("POST")
        assert (reply.status, reply.body, reply.header("connection")) == (200, b"hi", "close")
        assert await client.closed() == b""


async def test_http_1_0_keep_alive_keeps_the_connection() -> None:
    async with serving(echo) as server:
        client = await server.connect()
        for n in range(2):
            reply = await client.request("PUT", "/", b"%d" % n, ["Connection: Keep-Alive"], "1.0")
            assert (reply.body, reply.header("connection")) == (b"%d" % n, None)


async def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http_server, "KEEP_ALIVE_SECONDS", 0.2)
    async with serving(echo) as server:
        client, silent = await server.connect(), await server.connect()
        assert (await client.request()).status == 200
        assert await client.closed() == b""
        assert await silent.closed() == b""


# --- request bodies --------------------------------------------------------------------


def recording(seen: anyio.abc.ObjectSendStream[tuple[bytes, bool]]) -> ASGIApp:
    """An echo app that passes each body message it receives on to ``seen``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        data = b""
        while True:
            message = await receive()
            await seen.send((message["body"], message["more_body"]))
            data += message["body"]
            if not message["more_body"]:
                break
        await send(start())
        await send(body(data))

    return app


@pytest.mark.parametrize(
    ("head", "writes", "messages"),
    [
        ("Content-Length: 6", [b"abcdef"], [(b"abcdef", False)]),
        ("Content-Length: 6", [b"abc", b"def"], [(b"abc", True), (b"def", False)]),
        (
            "Transfer-Encoding: chunked",
            [b"3;ext=1\r\nabc\r\n", b"3\r\ndef\r\n0\r\nTrailer: x\r\n\r\n"],
            [(b"abc", True), (b"def", True), (b"", False)],
        ),
    ],
)
async def test_the_app_gets_the_body_as_it_arrives(
    head: str, writes: list[bytes], messages: list[tuple[bytes, bool]]
) -> None:
    send_seen, seen = anyio.create_memory_object_stream[tuple[bytes, bool]](10)
    with send_seen, seen:
        async with serving(recording(send_seen)) as server:
            client = await server.connect()
            await client.stream.send(http("POST", headers=[head]) + writes[0])
            received = []
            with anyio.fail_after(5):
                for data in writes[1:]:
                    received.append(await seen.receive())  # the app waits for the rest
                    await client.stream.send(data)
                reply = await client.reply("POST")
            with contextlib.suppress(anyio.WouldBlock):
                while True:
                    received.append(seen.receive_nowait())
            assert received == messages
            assert (reply.status, reply.body, reply.header("connection")) == (200, b"abcdef", None)
            assert (await client.request()).status == 200


async def test_100_continue_is_sent_when_the_app_reads_the_body() -> None:
    async with serving(echo) as server:
        client = await server.connect()
        await client.stream.send(
            http("POST", headers=["Content-Length: 4", "Expect: 100-continue"])
        )
        with anyio.fail_after(5):
            assert await client.stream.receive() == b"HTTP/1.1 100 Continue\r\n\r\n"
        await client.stream.send(b"body")
        reply = await client.reply("POST")
        assert (reply.status, reply.body) == (200, b"body")


@pytest.mark.parametrize("expect", [True, False])
async def test_a_body_the_app_leaves_unread_closes_the_connection(expect: bool) -> None:
    headers = ["Content-Length: 1000000", *(["Expect: 100-continue"] if expect else [])]
    async with serving(ignore_body) as server:
        client = await server.connect()
        await client.stream.send(http("POST", headers=headers) + (b"" if expect else b"x" * 1000))
        reply = await client.reply("POST")
        assert (reply.status, reply.body, reply.header("connection")) == (200, b"not read", "close")
        assert await client.closed() == b""  # and no 100 Continue before the reply either


async def test_an_answer_to_a_body_still_arriving_is_not_lost() -> None:
    """The app answers before the client has sent its (large) body: the server closes only
    once the client stopped sending, so the answer is not destroyed by a reset."""
    async with serving(ignore_body) as server:
        client = await server.connect()
        size = 8 * 1024 * 1024
        await client.stream.send(http("POST", headers=[f"Content-Length: {size}"]))
        with anyio.fail_after(10):
            for _ in range(size // 65536):
                await client.stream.send(b"x" * 65536)
        await client.stream.send_eof()
        reply = await client.reply("POST")
        assert (reply.status, reply.body, reply.header("connection")) == (200, b"not read", "close")
        assert await client.closed() == b""


# --- responses -------------------------------------------------------------------------


@pytest.mark.parametrize("declared", [True, False])
async def test_a_complete_body_is_sent_with_its_length(declared: bool) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            framing = (b"Content-Length", b"11") if declared else (b"Transfer-Encoding", b"chunked")
            await send(start(200, framing))  # the app's transfer coding is dropped
            await send(body(b"hello ", more=True))
            await send(body(b"world", more=True))
            await send(body())

    async with serving(app) as server:
        client = await server.connect()
        for _ in range(2):
            reply = await client.request()
            assert (reply.body, reply.header("content-length")) == (b"hello world", "11")
            assert reply.header("transfer-encoding") is None


@pytest.mark.parametrize("version", ["1.1", "1.0"])
async def test_a_long_streamed_body_is_chunked_or_ends_with_the_connection(version: str) -> None:
    pieces = [bytes([n]) * 20_000 for n in range(10)]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send(start(200, (b"transfer-encoding", b"gzip")))  # replaced, not repeated
            for piece in pieces:
                await send(body(piece, more=True))
            await send(body())

    async with serving(app) as server:
        client = await server.connect()
        headers = ["Connection: keep-alive"]
        for _ in range(2 if version == "1.1" else 1):
            reply = await client.request("GET", "/", b"", headers, version)
            assert reply.body == b"".join(pieces)
            assert reply.header("content-length") is None
            if version == "1.1":
                assert reply.header("transfer-encoding") == "chunked"
            else:
                assert (reply.header("transfer-encoding"), reply.header("connection")) == (
                    None,
                    "close",
                )
                assert await client.closed() == b""


@pytest.mark.parametrize(("method", "status"), [("HEAD", 200), ("GET", 204), ("GET", 304)])
async def test_head_204_and_304_replies_have_no_body(method: str, status: int) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send(start(status))
            await send(body(b"hello"))

    async with serving(app) as server:
        client = await server.connect()
        await client.stream.send(http(method) + http(method))
        for _ in range(2):  # nothing stray between the replies
            reply = await client.reply(method)
            assert (reply.status, reply.body) == (status, b"")
            assert reply.header("content-length") == ("5" if method == "HEAD" else None)


@pytest.mark.parametrize("header", [(b"x-a", b"1\r\nInjected: yes"), (b"x-a\nInjected", b"1")])
async def test_a_header_with_a_line_break_is_never_sent(header: tuple[bytes, bytes]) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send(start(200, header))
            await send(body(b"hello"))

    async with serving(app) as server:
        client = await server.connect()
        await client.stream.send(http())
        data = await client.closed()
        assert data.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
        assert b"injected" not in data.lower()


# --- refusals and failures -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/2.0\r\nHost: test\r\n\r\n", 505),
        (b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nabc", 400),
    ],
)
async def test_a_malformed_request_is_refused_and_the_server_serves_on(
    raw: bytes, status: int
) -> None:
    async with serving(echo) as server:
        client = await server.connect()
        await client.stream.send(raw)
        if status == 400 and raw.endswith(b"abc"):
            await client.stream.send_eof()  # the body ends early
        reply = await client.reply()
        assert (reply.status, reply.header("connection")) == (status, "close")
        assert reply.header("content-type") == "text/plain; charset=utf-8"
        assert await client.closed() == b""
        assert (await (await server.connect()).request("POST", "/", b"ok")).body == b"ok"


async def test_an_app_raising_before_its_reply_gets_a_500() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["path"] == "/boom":
                raise RuntimeError("boom")
            await echo(scope, receive, send)

    async with serving(app) as server:
        client = await server.connect()
        await client.stream.send(http(target="/boom"))
        reply = await client.reply()
        assert (reply.status, reply.header("connection")) == (500, "close")
        assert await client.closed() == b""
        assert (await (await server.connect()).request()).status == 200


async def test_an_app_raising_mid_reply_cuts_the_connection() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send(start())
            await send(body(b"x" * 100_000, more=True))
            raise RuntimeError("boom")

    async with serving(app) as server:
        client = await server.connect()
        await client.stream.send(http())
        data = await client.closed()
        assert data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"transfer-encoding: chunked\r\n" in data
        assert not data.endswith(b"0\r\n\r\n")


# --- scope -----------------------------------------------------------------------------


async def test_the_scope_describes_the_request() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scopes.append(scope)
            await echo(scope, receive, send)

    async with serving(app) as server:
        client = await server.connect()
        target = "/a%20b/%C3%A9?x=1&y=%20"
        await client.request("PATCH", target, b"", ["X-Custom: Value"], "1.0")
        [scope] = scopes
        assert {k: scope[k] for k in ("type", "http_version", "method", "scheme", "path")} == {
            "type": "http",
            "http_version": "1.0",
            "method": "PATCH",
            "scheme": "http",
            "path": "/a b/é",
        }
        assert (scope["raw_path"], scope["query_string"]) == (b"/a%20b/%C3%A9", b"x=1&y=%20")
        assert scope["headers"] == [(b"host", b"test"), (b"x-custom", b"Value")]
        assert scope["client"] == client.stream.extra(anyio.abc.SocketAttribute.local_address)
        assert scope["server"] == ("127.0.0.1", server.port)


# --- lifespan and shutdown -------------------------------------------------------------


async def test_lifespan_startup_precedes_requests_and_shutdown_follows_them() -> None:
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            assert (await receive())["type"] == "lifespan.startup"
            await anyio.sleep(0.05)
            events.append("startup")
            await send({"type": "lifespan.startup.complete"})
            assert (await receive())["type"] == "lifespan.shutdown"
            events.append("shutdown")
            await send({"type": "lifespan.shutdown.complete"})
        else:
            events.append("request")
            await echo(scope, receive, send)

    async with serving(app) as server:
        assert (await (await server.connect()).request()).status == 200
        server.stop.set()
        with anyio.fail_after(5):
            await server.stopped.wait()
    assert events == ["startup", "request", "shutdown"]


async def test_an_app_without_lifespan_support_is_served() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        await echo(scope, receive, send)

    async with serving(app) as server:
        assert (await (await server.connect()).request("POST", "/", b"hi")).body == b"hi"


async def test_a_failed_startup_stops_the_server() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    with (
        listening_socket("127.0.0.1") as sock,
        anyio.fail_after(5),
        pytest.RaisesGroup(
            pytest.RaisesExc(RuntimeError, match="the app failed to start: no database"),
            flatten_subgroups=True,
        ),
    ):
        await serve_asgi(app, sock, stop=anyio.Event(), grace=1)


async def test_shutdown_lets_requests_in_progress_finish_and_closes_the_rest() -> None:
    started, release = anyio.Event(), anyio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/slow":
            started.set()
            await release.wait()
        await echo(scope, receive, send)

    async with serving(app) as server:
        busy, idle = await server.connect(), await server.connect()
        assert (await idle.request()).status == 200
        await busy.stream.send(http(target="/slow"))
        with anyio.fail_after(5):
            await started.wait()
        server.stop.set()
        assert await idle.closed() == b""
        with pytest.raises(OSError, match="All connection attempts failed"):
            await anyio.connect_tcp("127.0.0.1", server.port)
        assert not server.stopped.is_set()
        release.set()
        reply = await busy.reply()
        assert (reply.status, reply.header("connection")) == (200, "close")
        assert await busy.closed() == b""
        with anyio.fail_after(5):
            await server.stopped.wait()


async def test_shutdown_cuts_off_requests_that_outlast_the_grace() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send(start())
            await anyio.sleep_forever()

    async with serving(app, grace=0.2) as server:
        client = await server.connect()
        await client.stream.send(http())
        await anyio.sleep(0.05)
        server.stop.set()
        with anyio.fail_after(2):
            await server.stopped.wait()
        assert await client.closed() == b""


# --- a real Quart app ------------------------------------------------------------------


async def test_a_quart_app_is_served() -> None:
    app = Quart(__name__)
    served: list[str] = []

    @app.before_serving
    async def startup() -> None:
        served.append("startup")

    @app.post("/echo/<name>")
    async def echo_route(name: str) -> dict[str, str]:
        return {"name": name, "body": (await request.get_data()).decode()}

    async with serving(app) as server:
        client = await server.connect()
        reply = await client.request("POST", "/echo/x%20y", b"payload")
        assert (reply.status, reply.header("content-type")) == (200, "application/json")
        assert reply.body == b'{"body":"payload","name":"x y"}\n'
        assert (await client.request("GET", "/missing")).status == 404
    assert served == ["startup"]
