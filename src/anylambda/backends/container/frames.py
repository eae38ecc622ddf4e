"""The Docker Engine API's multiplexed attach stream, decoded incrementally.

Docker and Podman speak the same format. A container without a TTY sends its
stdout and stderr over one stream of frames: an 8-byte header (stream number,
three zero bytes, the payload's length as a big-endian 32-bit integer) and
then the payload. Reads cut frames anywhere, so the decoder keeps what it has
not finished.
"""

from __future__ import annotations

import struct

HEADER = struct.Struct(">BxxxL")


class FrameDecoder:
    """Turns stream bytes into the output they carry (stdout and stderr, interleaved)."""

    def __init__(self) -> None:
        self._header = b""
        self._remaining = 0

    def feed(self, data: bytes) -> bytes:
        """Decode ``data``; return the payload bytes it completes or continues."""
        out = bytearray()
        view = memoryview(data)
        while view:
            if self._remaining:
                take = min(self._remaining, len(view))
                out += view[:take]
                view = view[take:]
                self._remaining -= take
                continue
            need = HEADER.size - len(self._header)
            self._header += bytes(view[:need])
            view = view[need:]
            if len(self._header) == HEADER.size:
                _stream, self._remaining = HEADER.unpack(self._header)
                self._header = b""
        return bytes(out)
