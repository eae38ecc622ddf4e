"""The fast stage: the image's filesystem as one tar stream, the rootfs with the recipe laid over.

The cached rootfs tarball is copied member by member (no root needed, nothing unpacked),
leaving out device nodes and whatever the recipe replaces; then the recipe's directories,
files and links follow. Paths are resolved through the rootfs's own directory links, so
``/bin/sh`` in a recipe replaces ``usr/bin/sh`` of a merged-``/usr`` Debian.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

from anylambda.runtimes.images.recipe import ImageFile, ImageRecipe, ImageSymlink

#: Links followed when resolving a path; more means a loop.
_MAX_LINKS = 40
#: The modification time of what the recipe adds (2020-01-01), so builds are reproducible.
_MTIME = 1_577_836_800


def write_image_tar(rootfs: Path, recipe: ImageRecipe, out: IO[bytes]) -> None:
    """Write the image's filesystem, as an uncompressed tar stream, to ``out``."""
    with tarfile.open(rootfs, mode="r:") as source:
        members = source.getmembers()
        links = {_clean(m.name): m.linkname for m in members if m.issym()}
        dirs = {_clean(m.name) for m in members if m.isdir()}
        replaced = {resolve(item.path, links) for item in recipe.files}
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as sink:
            for member in members:
                if member.ischr() or member.isblk() or member.isfifo():
                    continue  # /dev: the engine mounts its own
                if _clean(member.name) in replaced:
                    continue
                sink.addfile(member, source.extractfile(member) if member.isreg() else None)
            wanted = [*recipe.directories, *(posixpath.dirname(f.path) for f in recipe.files)]
            for directory in _missing_dirs(wanted, links, dirs):
                sink.addfile(_info(directory, tarfile.DIRTYPE, 0o755))
            for item in recipe.files:
                _add(sink, item, resolve(item.path, links))


def _add(sink: tarfile.TarFile, item: ImageFile | ImageSymlink, name: str) -> None:
    if isinstance(item, ImageSymlink):
        info = _info(name, tarfile.SYMTYPE, 0o777)
        info.linkname = item.target
        sink.addfile(info)
        return
    content = item.content()
    info = _info(name, tarfile.REGTYPE, item.mode)
    info.size = len(content)
    sink.addfile(info, io.BytesIO(content))


def _info(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(f"./{name}")
    info.type = kind
    info.mode = mode
    info.mtime = _MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _missing_dirs(wanted: Iterable[str], links: Mapping[str, str], existing: set[str]) -> list[str]:
    """The directories (and their parents) among ``wanted`` the rootfs lacks, parents first."""
    missing: list[str] = []
    for path in wanted:
        resolved = resolve(path, links, follow=True)
        chain: list[str] = []
        while resolved and resolved not in existing and resolved not in missing:
            chain.append(resolved)
            resolved = posixpath.dirname(resolved)
        missing += reversed(chain)
    return missing


def _clean(name: str) -> str:
    """A member name as a path relative to the root, with no ``./``: ``usr/bin/sh``."""
    return posixpath.normpath("/" + name).lstrip("/")


def resolve(path: str, links: Mapping[str, str], *, follow: bool = False) -> str:
    """Where ``path`` (absolute, in the image) really is, following the links among its parents.

    ``links`` maps link names (as :func:`_clean` gives them) to their targets. The last
    component is followed only with ``follow`` (for directories): a recipe's file replaces
    a link there rather than its target.
    """
    parts = _clean(path).split("/")
    done: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        candidate = "/".join([*done, part]) if part else "/".join(done)
        if (parts or follow) and candidate in links:
            hops += 1
            if hops > _MAX_LINKS:
                raise ValueError(f"too many levels of symbolic links resolving {path!r}")
            target = links[candidate]
            base = "" if target.startswith("/") else "/".join(done)
            parts = [*_clean(posixpath.join("/" + base, target)).split("/"), *parts]
            done = []
            continue
        done.append(part)
    return "/".join(p for p in done if p)
