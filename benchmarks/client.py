"""One-off HTTP requests from the harness itself, for the figures that are single requests.

Loads (many requests) go through :mod:`benchmarks.load` in a process of its own.
"""

from __future__ import annotations

import http.client
import time

#: Seconds any single request may take; cold starts on a busy machine stay well inside.
REQUEST_TIMEOUT = 60.0


class HttpError(RuntimeError):
    """A response other than 2xx."""


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    timeout: float = REQUEST_TIMEOUT,
) -> bytes:
    """Send one request to 127.0.0.1:``port`` on a new connection; the body of a 2xx response."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    if not 200 <= response.status < 300:
        raise HttpError(f"{method} {path}: HTTP {response.status}: {data[:300]!r}")
    return data


def first_response(port: int, path: str, body: bytes, timeout: float = REQUEST_TIMEOUT) -> bytes:
    """POST until something listening on ``port`` answers 2xx (a just-started server)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return request(port, "POST", path, body, timeout=max(deadline - time.monotonic(), 0.1))
        except ConnectionRefusedError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.001)
