"""Streams on asyncio's protocol API, driven over real sockets."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

from anylambda.core.wire import Stream, accept, listening_socket


@asynccontextmanager
async def connection() -> AsyncIterator[tuple[Stream, anyio.abc.SocketStream]]:
    """The server's :class:`Stream` and the client's end of one connection."""
    send_accepted, accepted = anyio.create_memory_object_stream[Stream](1)
    with send_accepted, accepted, listening_socket("127.0.0.1") as sock:
        async with anyio.create_task_group() as tg:
            tg.start_soon(accept, sock, send_accepted.send_nowait)
            async with await anyio.connect_tcp("127.0.0.1", sock.getsockname()[1]) as client:
                with anyio.fail_after(5):
                    stream = await accepted.receive()
                try:
                    yield stream, client
                finally:
                    stream.close()
            tg.cancel_scope.cancel()


def hang_up_event(stream: Stream) -> anyio.Event:
    hung_up = anyio.Event()
    stream.on_hang_up(hung_up.set)
    return hung_up


async def test_receive_returns_what_is_buffered_at_once_then_the_end() -> None:
    async with connection() as (stream, client):
        hung_up = hang_up_event(stream)
        await client.send(b"one")
        with anyio.fail_after(5):
            assert await stream.receive() == b"one"  # waits for it
        await client.send(b"two")
        await client.send(b"three")
        await client.send_eof()
        with anyio.fail_after(5):
            await hung_up.wait()  # both sends arrived before the end
        with anyio.CancelScope() as scope:
            scope.cancel()  # any wait would raise
            assert await stream.receive() == b"twothree"
            assert await stream.receive() == b""
            assert await stream.receive() == b""
        late = anyio.Event()
        stream.on_hang_up(late.set)
        assert late.is_set()  # at once, the peer is already done
        await stream.send(b"answer")  # half-closed: still open the other way
        with anyio.fail_after(5):
            assert await client.receive() == b"answer"


async def test_a_peer_going_away_is_told_and_breaks_sends() -> None:
    async with connection() as (stream, client):
        hung_up = hang_up_event(stream)
        await client.aclose()
        with anyio.fail_after(5):
            await hung_up.wait()
            with pytest.raises(anyio.BrokenResourceError):
                await send_until_it_breaks(stream)


async def send_until_it_breaks(stream: Stream) -> None:
    while True:  # the first sends may still go out before the peer's reset comes back
        await stream.send(b"x")
        await anyio.sleep(0.01)


async def test_a_hang_up_callback_can_be_withdrawn() -> None:
    async with connection() as (stream, client):
        called: list[bool] = []
        stream.on_hang_up(lambda: called.append(True))
        stream.on_hang_up(None)
        await client.send_eof()
        with anyio.fail_after(5):
            assert await stream.receive() == b""
        assert called == []


async def test_send_waits_for_a_slow_reader_and_delivers_everything() -> None:
    data = bytes(range(256)) * 4096 * 64  # 64 MiB, more than any socket buffer
    async with connection() as (stream, client):
        sent = anyio.Event()

        async def send_all() -> None:
            for start in range(0, len(data), 1 << 20):
                await stream.send(data[start : start + (1 << 20)])
            sent.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(send_all)
            await anyio.sleep(0.1)
            assert not sent.is_set()  # held back until the reader reads
            digest, size = hashlib.sha256(), 0
            with anyio.fail_after(10):
                while size < len(data):
                    chunk = await client.receive(1 << 20)
                    digest.update(chunk)
                    size += len(chunk)
                await sent.wait()
        assert digest.digest() == hashlib.sha256(data).digest()


async def test_receive_gets_everything_a_fast_writer_sends() -> None:
    data = bytes(range(256)) * 4096 * 16  # 16 MiB: reading pauses and resumes on the way
    async with connection() as (stream, client):
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.send, data)
            await anyio.sleep(0.1)
            received = bytearray()
            with anyio.fail_after(10):
                while len(received) < len(data):
                    received += await stream.receive()
        assert received == data


async def test_accept_cancelled_as_it_starts_leaves_the_event_loop_clean() -> None:
    # Regression: the cancelled server's socket stayed registered with the event loop,
    # which then took a new listening socket on the same descriptor for the old one.
    def unexpected(stream: Stream) -> None:
        stream.close()
        raise AssertionError("a cancelled accept took a connection")

    for _ in range(3):
        with listening_socket("127.0.0.1") as old:
            async with anyio.create_task_group() as tg:
                tg.start_soon(accept, old, unexpected)
                await anyio.lowlevel.checkpoint()  # accept starts, then is cancelled
                tg.cancel_scope.cancel()
        async with connection() as (stream, client):
            await client.send(b"ping")
            with anyio.fail_after(5):
                assert await stream.receive() == b"ping"
            await stream.send(b"pong")
            with anyio.fail_after(5):
                assert await client.receive() == b"pong"
