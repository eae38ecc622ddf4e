"""The content-addressed store of code and layer zips, and their unpacked read-only cache."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from anylambda.core.codepkg import DEFAULT_LIMITS, ZipLimits, extract_zip, remove_tree
from anylambda.core.errors import ResourceNotFoundError
from anylambda.core.models import CodeRef

SHA256_RE = re.compile(r"[0-9a-f]{64}")


class BlobStore:
    """Content-addressed store of code and layer zips.

    Zips live under ``root/blobs/<sha256>``; each is unpacked once, on first use, into the
    read-only ``root/code/<sha256>/``.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = root / "blobs"
        self._code = root / "code"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._code.mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes) -> CodeRef:
        """Store a zip (idempotent; written to a temporary file, then renamed into place)."""
        ref = CodeRef(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        path = self.path(ref.sha256)
        if path.exists():
            return ref
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self._blobs)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        return ref

    def read(self, sha256: str) -> bytes:
        """The stored zip; :class:`ResourceNotFoundError` if there is none."""
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise ResourceNotFoundError(f"Code package {sha256} not found") from None

    def path(self, sha256: str) -> Path:
        """Where the zip with this SHA-256 is (or would be) stored."""
        return self._blobs / _checked(sha256)

    def unpack(self, sha256: str, limits: ZipLimits = DEFAULT_LIMITS) -> Path:
        """The zip's read-only unpacked directory, extracted on first use."""
        dest = self._code / _checked(sha256)
        if not dest.is_dir():
            extract_zip(self.read(sha256), dest, limits)
        return dest

    def remove(self, sha256: str) -> None:
        """Delete the zip and its unpacked directory; do nothing if they are absent."""
        self.path(sha256).unlink(missing_ok=True)
        remove_tree(self._code / sha256)


def _checked(sha256: str) -> str:
    """The hex digest itself, so that no caller can make a path leave the store."""
    if not SHA256_RE.fullmatch(sha256):
        raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")
    return sha256
