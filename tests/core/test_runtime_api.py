"""The per-instance Runtime API server, driven over raw HTTP and by the real awslambdaric."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import anyio
import anyio.abc
import attrs
import h11
import pytest

from anylambda.core.runtime_api import (
    NextEvent,
    RuntimeApiError,
    make_next_event,
    serve_runtime_api,
)
from anylambda.core.wire import listening_socket

LIMIT = 1024
INVOCATION = "/2018-06-01/runtime/invocation"


class FakeChannel:
    """Queues NextEvents and records posts, with RAPID's request-ID and state checks."""

    def __init__(self) -> None:
        self._events: list[NextEvent] = []
        self._answer: Callable[[NextEvent], None] | None = None
        self._posts_in, self._posts_out = anyio.create_memory_object_stream[tuple](10)
        self.delivered: set[str] = set()
        self.finished: set[str] = set()
        self.next_cancelled = anyio.Event()

    def close(self) -> None:
        for stream in (self._posts_in, self._posts_out):
            stream.close()

    def queue(self, request_id: str, payload: bytes = b"{}") -> None:
        self._events.append(event(request_id, payload))
        self._deliver()

    async def post(self) -> tuple:
        """The next post the server passed on."""
        with anyio.fail_after(10):
            return await self._posts_out.receive()

    def poll(self, answer: Callable[[NextEvent], None]) -> None:
        self._answer = answer
        self._deliver()

    def stop_polling(self) -> None:
        self._answer = None
        self.next_cancelled.set()

    def _deliver(self) -> None:
        if self._answer is not None and self._events:
            answer, self._answer = self._answer, None
            next_event = self._events.pop(0)
            self.delivered.add(next_event.request_id)
            answer(next_event)

    def post_response(self, request_id: str, body: bytes) -> None:
        self._finish(request_id)
        self._posts_in.send_nowait(("response", request_id, body))

    def post_error(self, request_id: str, error_type: str, body: bytes) -> None:
        self._finish(request_id)
        self._posts_in.send_nowait(("error", request_id, error_type, body))

    def post_init_error(self, error_type: str, body: bytes) -> None:
        self._posts_in.send_nowait(("init_error", error_type, body))

    def response_too_large(self, request_id: str, size: int) -> None:
        self._finish(request_id)
        self._posts_in.send_nowait(("too_large", request_id, size))

    def _finish(self, request_id: str) -> None:
        if request_id == "boom":
            raise RuntimeError("a bug in the core")
        if request_id not in self.delivered:
            raise RuntimeApiError(400, "InvalidRequestID", "Invalid request ID")
        if request_id in self.finished:
            raise RuntimeApiError(
                403,
                "InvalidStateTransition",
                "State transition from Ready to InvocationResponse failed for runtime.",
            )
        self.finished.add(request_id)


def event(request_id: str, payload: bytes = b"{}") -> NextEvent:
    return make_next_event(
        request_id=request_id,
        payload=payload,
        deadline_ms=1_700_000_000_000,
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:f",
        trace_id=None,
        client_context=None,
        cognito_identity=None,
    )


@attrs.frozen
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        assert self.headers["content-type"] == "application/json"
        return json.loads(self.body)


class Client:
    """One keep-alive connection; h11's client side frames requests and parses answers."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    async def send(self, *events: h11.Event) -> None:
        await self.stream.send(b"".join(self.conn.send(e) or b"" for e in events))

    async def request(
        self,
        method: str,
        path: str,
        *chunks: bytes,
        headers: Sequence[tuple[str, str]] = (),
    ) -> Reply:
        """Send a request; one chunk goes with Content-Length, several chunked."""
        framing = ("Content-Length", str(len(chunks[0]) if chunks else 0))
        if len(chunks) > 1:
            framing = ("Transfer-Encoding", "chunked")
        request = h11.Request(
            method=method, target=path, headers=[("Host", "rapid"), framing, *headers]
        )
        await self.send(request, *(h11.Data(data=c) for c in chunks), h11.EndOfMessage())
        return await self.reply()

    async def reply(self) -> Reply:
        with anyio.fail_after(10):
            response = await self.next_event()
            assert isinstance(response, h11.Response)
            body = b""
            while not isinstance(part := await self.next_event(), h11.EndOfMessage):
                body += part.data
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        headers = {k.decode(): v.decode() for k, v in response.headers}
        return Reply(response.status_code, headers, body)

    async def next_event(self) -> h11.Event:
        while (next_event := self.conn.next_event()) is h11.NEED_DATA:
            self.conn.receive_data(await self.stream.receive())
        return next_event


@attrs.frozen
class Server:
    channel: FakeChannel
    port: int
    clients: list[Client] = attrs.field(factory=list)

    async def connect(self) -> Client:
        client = Client(await anyio.connect_tcp("127.0.0.1", self.port))
        self.clients.append(client)
        return client


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    channel = FakeChannel()
    sock = listening_socket("127.0.0.1")
    port = sock.getsockname()[1]
    async with anyio.create_task_group() as tg:
        tg.start_soon(partial(serve_runtime_api, sock, channel, max_response_bytes=LIMIT))
        server = Server(channel, port)
        yield server
        tg.cancel_scope.cancel()
    for client in server.clients:
        await client.stream.aclose()
    channel.close()


# --- make_next_event ---------------------------------------------------------------------


def test_next_event_headers_include_optional_ones_only_when_set() -> None:
    bare = event("id-1", b'{"a":1}')
    assert bare.request_id == "id-1"
    assert bare.body == b'{"a":1}'
    assert bare.headers == [
        (b"Lambda-Runtime-Aws-Request-Id", b"id-1"),
        (b"Lambda-Runtime-Deadline-Ms", b"1700000000000"),
        (
            b"Lambda-Runtime-Invoked-Function-Arn",
            b"arn:aws:lambda:us-east-1:000000000000:function:f",
        ),
        (b"Content-Type", b"application/json"),
        (b"Content-Length", b"7"),
    ]
    full = make_next_event(
        request_id="id-2",
        payload=b"",
        deadline_ms=5,
        function_arn="arn",
        trace_id="Root=1-abc",
        client_context="e30=",
        cognito_identity='{"cognitoIdentityId":"x"}',
    )
    assert dict(full.headers) == {
        b"Lambda-Runtime-Aws-Request-Id": b"id-2",
        b"Lambda-Runtime-Deadline-Ms": b"5",
        b"Lambda-Runtime-Invoked-Function-Arn": b"arn",
        b"Lambda-Runtime-Trace-Id": b"Root=1-abc",
        b"Lambda-Runtime-Client-Context": b"e30=",
        b"Lambda-Runtime-Cognito-Identity": b'{"cognitoIdentityId":"x"}',
        b"Content-Type": b"application/json",
        b"Content-Length": b"0",
    }


# --- raw HTTP ----------------------------------------------------------------------------


async def test_invocations_cycle_on_one_keep_alive_connection(server: Server) -> None:
    client = await server.connect()
    for n in range(3):
        server.channel.queue(f"id-{n}", b'{"n":%d}' % n)
        nxt = await client.request("GET", f"{INVOCATION}/next")
        assert nxt.status == 200
        assert nxt.body == b'{"n":%d}' % n
        assert nxt.headers["lambda-runtime-aws-request-id"] == f"id-{n}"
        assert nxt.headers["lambda-runtime-deadline-ms"] == "1700000000000"
        assert nxt.headers["content-type"] == "application/json"
        accepted = await client.request("POST", f"{INVOCATION}/id-{n}/response", b'"ok"')
        assert accepted.status == 202
        assert accepted.json() == {"status": "OK"}
        assert await server.channel.post() == ("response", f"id-{n}", b'"ok"')


async def test_error_type_comes_from_the_header_or_defaults_to_unhandled(server: Server) -> None:
    client = await server.connect()
    server.channel.queue("a")
    server.channel.queue("b")
    await client.request("GET", f"{INVOCATION}/next")
    reply = await client.request("POST", f"{INVOCATION}/a/error", b'{"errorType":"E"}')
    assert (reply.status, reply.json()) == (202, {"status": "OK"})
    assert await server.channel.post() == ("error", "a", "Unhandled", b'{"errorType":"E"}')
    await client.request("GET", f"{INVOCATION}/next")
    headers = [
        ("Lambda-Runtime-Function-Error-Type", "Runtime.ExitError"),
        ("Lambda-Runtime-Function-XRay-Error-Cause", "x" * 500_000),  # awslambdaric's stack
    ]
    reply = await client.request("POST", f"{INVOCATION}/b/error", b"not json", headers=headers)
    assert reply.status == 202
    assert await server.channel.post() == ("error", "b", "Runtime.ExitError", b"not json")


async def test_init_error(server: Server) -> None:
    client = await server.connect()
    reply = await client.request("POST", "/2018-06-01/runtime/init/error", b"{}")
    assert (reply.status, reply.json()) == (202, {"status": "OK"})
    assert await server.channel.post() == ("init_error", "Unhandled", b"{}")
    header = ("Lambda-Runtime-Function-Error-Type", "Runtime.ImportModuleError")
    reply = await client.request("POST", "/2018-06-01/runtime/init/error", headers=[header])
    assert reply.status == 202
    assert await server.channel.post() == ("init_error", "Runtime.ImportModuleError", b"")


async def test_channel_refusals_become_rapid_error_documents(server: Server) -> None:
    client = await server.connect()
    reply = await client.request("POST", f"{INVOCATION}/unknown/response", b"{}")
    assert reply.status == 400
    assert reply.json() == {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
    server.channel.queue("a")
    await client.request("GET", f"{INVOCATION}/next")
    assert (await client.request("POST", f"{INVOCATION}/a/response", b"1")).status == 202
    reply = await client.request("POST", f"{INVOCATION}/a/error", b"{}")
    assert reply.status == 403
    assert reply.json() == {
        "errorMessage": "State transition from Ready to InvocationResponse failed for runtime.",
        "errorType": "InvalidStateTransition",
    }


async def test_unknown_paths_and_wrong_methods(server: Server) -> None:
    client = await server.connect()
    for path in ("/", "/2018-06-01/runtime/invocation/a/b/response", f"{INVOCATION}/a/result"):
        reply = await client.request("POST", path, b"ignored")
        assert (reply.status, reply.json()) == (
            404,
            {"errorMessage": "Not Found", "errorType": "NotFound"},
        )
    reply = await client.request("POST", f"{INVOCATION}/next", b"{}")
    assert (reply.status, reply.headers["allow"]) == (405, "GET")
    assert reply.json() == {"errorMessage": "Method Not Allowed", "errorType": "MethodNotAllowed"}
    for path in (
        f"{INVOCATION}/a/response",
        f"{INVOCATION}/a/error",
        "/2018-06-01/runtime/init/error",
    ):
        reply = await client.request("GET", path)
        assert (reply.status, reply.headers["allow"]) == (405, "POST")
    reply = await client.request("HEAD", f"{INVOCATION}/next")
    assert (reply.status, reply.body) == (405, b"")


@pytest.mark.parametrize(
    "chunks", [[b"x" * (LIMIT + 1)], [b"x" * 600] * 5], ids=["length", "chunked"]
)
async def test_oversized_response_is_refused_without_losing_the_connection(
    server: Server, chunks: list[bytes]
) -> None:
    client = await server.connect()
    server.channel.queue("big")
    await client.request("GET", f"{INVOCATION}/next")
    reply = await client.request("POST", f"{INVOCATION}/big/response", *chunks)
    assert reply.status == 413
    assert reply.json() == {
        "errorMessage": f"Exceeded maximum allowed payload size ({LIMIT} bytes).",
        "errorType": "RequestEntityTooLarge",
    }
    assert await server.channel.post() == ("too_large", "big", sum(map(len, chunks)))
    server.channel.queue("next")
    assert (await client.request("GET", f"{INVOCATION}/next")).status == 200


async def test_response_at_the_limit_is_accepted(server: Server) -> None:
    client = await server.connect()
    server.channel.queue("a")
    await client.request("GET", f"{INVOCATION}/next")
    body = b"y" * LIMIT
    assert (await client.request("POST", f"{INVOCATION}/a/response", body)).status == 202
    assert await server.channel.post() == ("response", "a", body)


async def test_chunked_bodies_are_joined(server: Server) -> None:
    client = await server.connect()
    server.channel.queue("a")
    await client.request("GET", f"{INVOCATION}/next")
    reply = await client.request("POST", f"{INVOCATION}/a/response", b'{"a":', b"1", b"}")
    assert reply.status == 202
    assert await server.channel.post() == ("response", "a", b'{"a":1}')


async def test_expect_100_continue(server: Server) -> None:
    client = await server.connect()
    headers = [("Host", "rapid"), ("Content-Length", "2"), ("Expect", "100-continue")]
    await client.send(
        h11.Request(method="POST", target="/2018-06-01/runtime/init/error", headers=headers)
    )
    with anyio.fail_after(10):
        interim = await client.next_event()
    assert isinstance(interim, h11.InformationalResponse)
    assert interim.status_code == 100
    await client.send(h11.Data(data=b"{}"), h11.EndOfMessage())
    assert (await client.reply()).status == 202


async def test_malformed_request_gets_400_and_the_connection_closes(server: Server) -> None:
    async with await anyio.connect_tcp("127.0.0.1", server.port) as stream:
        await stream.send(b"GARBAGE\r\n\r\n")
        received = b""
        with anyio.fail_after(10):
            async for data in stream:
                received += data
    assert received.startswith(b"HTTP/1.1 400 ")
    assert b'"errorType": "InvalidRequest"' in received
    client = await server.connect()
    assert (await client.request("POST", "/2018-06-01/runtime/init/error", b"{}")).status == 202


async def test_hanging_up_during_next_cancels_the_wait(server: Server) -> None:
    client = await server.connect()
    await client.send(
        h11.Request(method="GET", target=f"{INVOCATION}/next", headers=[("Host", "rapid")]),
        h11.EndOfMessage(),
    )
    await anyio.sleep(0.05)
    await client.stream.aclose()
    with anyio.fail_after(10):
        await server.channel.next_cancelled.wait()
    server.channel.queue("later")
    client = await server.connect()
    assert (await client.request("GET", f"{INVOCATION}/next")).status == 200


async def test_a_request_sent_while_next_waits_is_kept(server: Server) -> None:
    async with await anyio.connect_tcp("127.0.0.1", server.port) as stream:
        await stream.send(
            b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: rapid\r\n\r\n"
            b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: rapid\r\n"
            b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
        )
        await anyio.sleep(0.05)
        server.channel.queue("a")
        received = b""
        with anyio.fail_after(10):
            async for data in stream:
                received += data
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert received.endswith(
        b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
        b'Content-Length: 15\r\nConnection: close\r\n\r\n{"status":"OK"}'
    )
    assert await server.channel.post() == ("init_error", "Unhandled", b"{}")


async def test_a_failing_channel_answers_500_and_the_listener_survives(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    client = await server.connect()
    reply = await client.request("POST", f"{INVOCATION}/boom/response", b"{}")
    assert reply.status == 500
    assert reply.json() == {
        "errorMessage": "Internal Server Error",
        "errorType": "InternalServerError",
    }
    assert "Runtime API connection failed" in caplog.text
    client = await server.connect()
    assert (await client.request("POST", "/2018-06-01/runtime/init/error", b"{}")).status == 202


async def test_concurrent_connections(server: Server) -> None:
    waiting = await server.connect()
    other = await server.connect()
    async with anyio.create_task_group() as tg:

        async def poll() -> None:
            reply = await waiting.request("GET", f"{INVOCATION}/next")
            assert reply.headers["lambda-runtime-aws-request-id"] == "a"

        tg.start_soon(poll)
        await anyio.sleep(0.05)
        assert (await other.request("POST", "/2018-06-01/runtime/init/error", b"{}")).status == 202
        server.channel.queue("a")
    assert (await other.request("POST", f"{INVOCATION}/a/response", b"1")).status == 202


# --- the real awslambdaric ---------------------------------------------------------------

HANDLER = """
def fn(event, context):
    if event.get("fail"):
        raise ValueError("bad input")
    return {"echo": event, "request_id": context.aws_request_id}
"""


@asynccontextmanager
async def running_ric(server: Server, tmp_path: Path, handler: str) -> AsyncIterator[None]:
    """Run ``python -m awslambdaric handler`` against the server; kill it on the way out."""
    (tmp_path / "handler.py").write_text(HANDLER)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.port}",
        "AWS_LAMBDA_FUNCTION_NAME": "f",
    }
    command = [sys.executable, "-m", "awslambdaric", handler]
    with (tmp_path / "ric.log").open("wb") as log:
        process = await anyio.open_process(
            command, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        try:
            yield
        finally:
            if process.returncode is None:
                process.kill()
            with anyio.fail_after(10):
                await process.wait()


async def test_awslambdaric_response_and_error(server: Server, tmp_path: Path) -> None:
    async with running_ric(server, tmp_path, "handler.fn"):
        server.channel.queue("req-1", b'{"x":1}')
        kind, request_id, body = await server.channel.post()
        assert (kind, request_id) == ("response", "req-1")
        assert json.loads(body) == {"echo": {"x": 1}, "request_id": "req-1"}

        server.channel.queue("req-2", b'{"fail":true}')
        kind, request_id, error_type, body = await server.channel.post()
        assert (kind, request_id, error_type) == ("error", "req-2", "Unhandled")
        error = json.loads(body)
        assert (error["errorType"], error["errorMessage"]) == ("ValueError", "bad input")


async def test_awslambdaric_init_error(server: Server, tmp_path: Path) -> None:
    async with running_ric(server, tmp_path, "missing_module.fn"):
        kind, error_type, body = await server.channel.post()
        assert (kind, error_type) == ("init_error", "Runtime.ImportModuleError")
        assert json.loads(body)["errorType"] == "Runtime.ImportModuleError"
