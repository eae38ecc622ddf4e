"""Safe handling of code and layer zips.

This module owns the step from an uploaded zip's bytes to a directory of code that
instances may run: AWS's size limits, zip bombs and entry counts, member paths and
symlinks that would escape the directory (zip-slip), unix permission bits, and an
atomic, read-only install. It blocks; the runtime calls it through ``anyio.to_thread``.
"""

from __future__ import annotations

import errno
import io
import lzma
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PureWindowsPath
from typing import IO, TypeVar

import attrs

from anylambda.core.errors import InvalidParameterValueError, RequestEntityTooLargeError

UNZIP_ERROR = "Could not unzip uploaded file. Please check your file, then try to upload again."
#: What a damaged archive makes :mod:`zipfile` and its decompressors raise (bz2 raises an
#: OSError without an errno, see :func:`extract_zip`).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
)
#: OS errors caused by the archive's content (clashing or overlong names), not by the host.
_CONTENT_ERRNOS = frozenset(
    {errno.EEXIST, errno.EISDIR, errno.ENOTDIR, errno.ENOTEMPTY, errno.ENAMETOOLONG, errno.ELOOP}
)
_MAX_LINK_TARGET = 4096
_CHUNK = 1024 * 1024

T = TypeVar("T")


@attrs.frozen
class ZipLimits:
    """Limits an uploaded zip must respect (AWS's by default)."""

    max_zip_bytes: int = 50 * 1024 * 1024
    """AWS's limit on a zipped package uploaded directly."""
    max_unzipped_bytes: int = 262_144_000
    """AWS's limit on the unzipped code and layers (250 MB)."""
    max_entries: int = 100_000


#: AWS's limits.
DEFAULT_LIMITS = ZipLimits()


def extract_zip(data: bytes, dest: Path, limits: ZipLimits = DEFAULT_LIMITS) -> int:
    """Validate and extract into dest (which must not exist yet); return total unzipped bytes.

    The archive is unpacked into a fresh sibling directory and renamed to ``dest``, so
    ``dest`` is either complete or absent. If another extraction creates ``dest`` first,
    ours is discarded. The result is read-only: no write bits on files, directories 0o555.
    """
    if len(data) > limits.max_zip_bytes:
        raise RequestEntityTooLargeError(
            f"Request must be smaller than {limits.max_zip_bytes} bytes "
            "for the CreateFunction operation"
        )

    def fill(tmp: Path) -> int:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return _extract(archive, tmp, limits)
        except _ZIP_ERRORS as exc:
            raise _invalid() from exc
        except OSError as exc:
            if exc.errno is None or exc.errno in _CONTENT_ERRNOS:
                raise _invalid() from exc
            raise

    return install_read_only(dest, fill)


def install_read_only(dest: Path, fill: Callable[[Path], T]) -> T:
    """Create the directory ``dest`` with ``fill``, read-only, all at once; return what fill did.

    ``fill`` writes into a fresh sibling directory, which is then made read-only
    (directories 0o555) and renamed to ``dest``, so ``dest`` is either complete or
    absent. If another install creates ``dest`` first, ours is discarded.
    """
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        result = fill(tmp)
        for root, _dirs, _files in os.walk(tmp):
            os.chmod(root, 0o555)
        try:
            os.rename(tmp, dest)
        except OSError:
            if not dest.is_dir():
                raise
    finally:
        remove_tree(tmp)
    return result


def remove_tree(path: Path) -> None:
    """Delete a directory tree, read-only directories included; do nothing if it is absent."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        return
    for root, _dirs, _files in os.walk(path):
        os.chmod(root, 0o755)
    shutil.rmtree(path)


def _extract(archive: zipfile.ZipFile, tmp: Path, limits: ZipLimits) -> int:
    """Write every member under tmp: directories and files first, then symlinks."""
    members = archive.infolist()
    if len(members) > limits.max_entries:
        raise _invalid(f"It has more than {limits.max_entries} entries.")
    if sum(info.file_size for info in members) > limits.max_unzipped_bytes:
        raise _too_large(limits)
    total = 0
    links: dict[tuple[str, ...], zipfile.ZipInfo] = {}
    for info in members:
        parts = _member_parts(info.orig_filename)
        mode = info.external_attr >> 16
        path = tmp.joinpath(*parts)
        if info.orig_filename.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        elif not parts:
            raise _invalid(f"Entry {info.orig_filename!r} has no file name.")
        elif stat.S_ISLNK(mode):
            links[parts] = info
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)  # a repeated entry replaces the earlier one
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out, archive.open(info) as src:
                total = _copy_counted(src, out, total, limits)
                os.fchmod(fd, ((mode & 0o777) or 0o644) & ~0o222)
    for parts, info in links.items():
        _make_link(archive, info, tmp, parts, links)
    root = os.path.realpath(tmp)
    for parts in links:
        if os.path.commonpath([root, os.path.realpath(tmp.joinpath(*parts))]) != root:
            raise _invalid(f"Symlink {'/'.join(parts)!r} points outside the package.")
    return total


def _member_parts(name: str) -> tuple[str, ...]:
    """The path of a member relative to the package root; raise if it could leave it."""
    if "\0" in name or "\\" in name or name.startswith("/") or PureWindowsPath(name).drive:
        raise _invalid(f"Entry {name!r} has an unsafe path.")
    parts: list[str] = []
    for part in name.split("/"):
        if part == "..":
            if not parts:
                raise _invalid(f"Entry {name!r} has an unsafe path.")
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return tuple(parts)


def _copy_counted(src: IO[bytes], dst: IO[bytes], total: int, limits: ZipLimits) -> int:
    """Copy src to dst and return the running total, stopping once it passes the limit."""
    while chunk := src.read(_CHUNK):
        total += len(chunk)
        if total > limits.max_unzipped_bytes:
            raise _too_large(limits)
        dst.write(chunk)
    return total


def _make_link(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    tmp: Path,
    parts: tuple[str, ...],
    links: dict[tuple[str, ...], zipfile.ZipInfo],
) -> None:
    """Create one symlink member; nothing is ever created through another symlink."""
    if any(parts[:i] in links for i in range(1, len(parts))):
        raise _invalid(f"Entry {'/'.join(parts)!r} lies under a symlink.")
    if info.file_size > _MAX_LINK_TARGET:
        raise _invalid(f"Symlink {'/'.join(parts)!r} has an overlong target.")
    target = archive.read(info).decode()
    if not target or "\0" in target or target.startswith("/"):
        raise _invalid(f"Symlink {'/'.join(parts)!r} points outside the package.")
    path = tmp.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def _invalid(detail: str = "") -> InvalidParameterValueError:
    return InvalidParameterValueError(f"{UNZIP_ERROR} {detail}".rstrip())


def _too_large(limits: ZipLimits) -> InvalidParameterValueError:
    return InvalidParameterValueError(
        f"Unzipped size must be smaller than {limits.max_unzipped_bytes} bytes"
    )
