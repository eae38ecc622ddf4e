"""A stub endpoint that echoes each request after a fixed delay: a reference for the machine.

``python -m benchmarks.stub PORT DELAY`` serves HTTP/1.1 with h11 on asyncio,
one task per connection, and does nothing else. What the load generator
measures against it is what this machine (shared as it is during the run)
allows a minimal Python server: a 50 ms stub short of 100 % of ideal shows
how far the machine, not the server under test, caps that figure.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h11

from benchmarks import client, handlers
from benchmarks.processes import free_port, stop_group

PATH = "/stub"
_REPO = Path(__file__).resolve().parent.parent


@contextmanager
def running_stub(delay: float) -> Iterator[int]:
    """Start the stub on a free port, answering after ``delay`` seconds; its port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.stub", str(port), str(delay)],
        cwd=_REPO,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        client.first_response(port, PATH, handlers.PAYLOAD, timeout=30)
        yield port
    finally:
        stop_group(process, grace=2.0)


async def _connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
) -> None:
    conn = h11.Connection(h11.SERVER)
    body = b""
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Request):
                body = b""
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                if delay:
                    await asyncio.sleep(delay)
                headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
                writer.write(
                    conn.send(h11.Response(status_code=200, headers=headers))
                    + conn.send(h11.Data(data=body))
                    + conn.send(h11.EndOfMessage())
                )
                conn.start_next_cycle()
            else:  # ConnectionClosed
                return
    except (ConnectionError, h11.ProtocolError):
        return
    finally:
        writer.close()


async def _serve(port: int, delay: float) -> None:
    server = await asyncio.start_server(
        lambda r, w: _connection(r, w, delay), "127.0.0.1", port, backlog=1024
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1]), float(sys.argv[2])))
