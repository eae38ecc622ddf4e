"""A FIFO on the host that a container writes its output into, read by the server directly.

Output that takes the engine's own path (container pipes, the shim or conmon,
the engine, the attach stream) arrives a moment after a Runtime API request
the function sent later, so a log tail would miss what a handler printed just
before returning. Written into a FIFO, output is in the server's reach the instant
``write()`` returns, exactly as with the process backend's pipes. The
container's command redirects its stdout and stderr there (see
:func:`~anylambda.backends.container.spec.run_spec`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from anylambda.backends.container.spec import OUTPUT_FIFO_NAME

#: Read at most this much output at once.
READ_CHUNK = 64 * 1024


class OutputPipe:
    """One instance's output FIFO: created, opened for reading, removed with the instance."""

    def __init__(self, directory: Path) -> None:
        #: Mounted read-only into the container; holds only the FIFO.
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=False)
        # The container's unprivileged user must reach the FIFO and write to it, nothing more.
        os.chmod(directory, 0o711)
        fifo = directory / OUTPUT_FIFO_NAME
        os.mkfifo(fifo)
        os.chmod(fifo, 0o622)
        self.fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        # Our own writer: the read end never sees end-of-file, so an idle pipe never wakes us up.
        self._writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)

    def read(self) -> bytes:
        """Everything written so far, without waiting."""
        chunks = []
        while True:
            try:
                chunk = os.read(self.fd, READ_CHUNK)
            except (BlockingIOError, InterruptedError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        """Close both ends and remove the FIFO and its directory."""
        for fd in (self.fd, self._writer):
            with contextlib.suppress(OSError):
                os.close(fd)
        remove_pipes(self.directory)


def remove_pipes(directory: Path) -> None:
    """Remove a directory of pipes (a stale one too), ignoring what is already gone."""
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(directory)
