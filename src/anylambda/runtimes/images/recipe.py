"""Image recipes: frozen data saying what goes into a runtime image, and their content hashes.

A recipe has two stages. Its :class:`RootfsSpec` (a :class:`Distribution`'s release,
packages, Python wheels, downloaded files) makes a root filesystem that is slow to build
and cached as a tarball, shared by every recipe with the same spec. The rest of the
recipe (files, directories, environment, entrypoint) is laid over that tarball when the
image is imported into an engine.

:func:`recipe_hash` digests everything that decides an image's content, the bytes of the
files it copies included; the image carries it as the label ``anylambda.recipe``, so a
build skips a tag whose image already has the same hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

import attrs

#: Bump when the rootfs stage changes in a way the spec does not show.
ROOTFS_FORMAT = 1
#: Bump when the image stage changes in a way the recipe does not show.
IMAGE_FORMAT = 1
#: The image label that holds :func:`recipe_hash`.
RECIPE_LABEL = "anylambda.recipe"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
UBUNTU_MIRROR = "http://archive.ubuntu.com/ubuntu"


def _image_path(value: str) -> str:
    path = PurePosixPath(value)
    if not path.is_absolute() or ".." in path.parts:
        raise ValueError(f"an image path must be absolute, with no '..': {value!r}")
    return str(path)


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _pairs(value: Mapping[str, str] | tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((str(k), str(v)) for k, v in items)


@attrs.frozen
class Distribution:
    """A Debian-style archive and one of its releases: what ``debootstrap`` installs."""

    name: str
    """``debian`` or ``ubuntu``: the archive, as mirror overrides (``--mirror``) name it."""
    suite: str
    """The release: ``bookworm``, ``noble``..."""
    mirror: str
    keyring: str | None = None
    """The host's keyring of the archive's signing keys; ``None``: debootstrap's (Debian's)."""
    keyring_hint: str = ""
    """How to install :attr:`keyring`, for the error when it is missing."""
    script: str | None = None
    """debootstrap's script for the release, if the host's debootstrap may not know it."""

    def material(self) -> dict[str, object]:
        """What the hash covers: the archive and release (not where or how they are fetched)."""
        return {"distribution": self.name, "suite": self.suite}


def debian(suite: str) -> Distribution:
    """A Debian release, verified with debootstrap's own keyring."""
    return Distribution("debian", suite, DEBIAN_MIRROR)


def ubuntu(suite: str) -> Distribution:
    """An Ubuntu release, verified with Ubuntu's archive keyring.

    debootstrap's ``gutsy`` script serves every Ubuntu release, also those newer than it.
    """
    return Distribution(
        "ubuntu",
        suite,
        UBUNTU_MIRROR,
        keyring="/usr/share/keyrings/ubuntu-archive-keyring.gpg",
        keyring_hint="apt-get install ubuntu-keyring; Debian 12 has it in bookworm-backports",
        script="gutsy",
    )


@attrs.frozen
class Download:
    """A tarball fetched over HTTP(S) and checked against its SHA-256; some of its files go
    into the rootfs, their modes kept."""

    url: str
    sha256: str
    files: tuple[tuple[str, str], ...] = attrs.field(
        converter=lambda v: tuple((member, _image_path(path)) for member, path in _pairs(v))
    )
    """``(member, path)``: the tarball's ``member`` becomes ``path`` in the image."""

    def material(self) -> dict[str, object]:
        """What the hash covers: the content (not the URL) and where its files go."""
        return {"sha256": self.sha256, "files": [list(pair) for pair in self.files]}


@attrs.frozen
class Wheels:
    """Python distributions downloaded as wheels on the host and unpacked into the rootfs.

    ``pip download`` fetches them for the image's interpreter (not the host's); they are
    unpacked into :attr:`target` and byte-compiled by the image's own interpreter.
    """

    requirements: tuple[str, ...] = attrs.field(converter=_strings)
    """Pinned requirement specifiers, e.g. ``awslambdaric==4.2.2``."""
    python_version: str
    """``3.11``: the interpreter the wheels are for."""
    target: str = attrs.field(default="/var/runtime", converter=_image_path)
    """Where they are unpacked in the image (on ``PYTHONPATH`` there)."""
    platforms: tuple[str, ...] = attrs.field(
        default=("manylinux2014_x86_64", "manylinux_2_28_x86_64"), converter=_strings
    )
    """pip ``--platform`` tags the image's C library accepts."""

    def material(self) -> dict[str, object]:
        """What the hash covers."""
        return attrs.asdict(self)


def _downloads(value: Iterable[Download]) -> tuple[Download, ...]:
    return tuple(value)


@attrs.frozen
class RootfsSpec:
    """A root filesystem made with ``debootstrap``: the cached, slow stage."""

    packages: tuple[str, ...] = attrs.field(converter=lambda v: tuple(sorted(set(v))))
    """Packages on top of the variant's (``--include``)."""
    distribution: Distribution = attrs.field(factory=lambda: debian("bookworm"))
    variant: str = "minbase"
    wheels: Wheels | None = None
    downloads: tuple[Download, ...] = attrs.field(default=(), converter=_downloads)

    def material(self) -> dict[str, object]:
        """What the hash covers (not the mirror: any mirror serves the same packages).

        What was added to the spec later is left out at its default (a Debian release, no
        downloads), so that the rootfs made before, and their images, keep their hashes.
        """
        found: dict[str, object] = {
            "format": ROOTFS_FORMAT,
            **self.distribution.material(),
            "variant": self.variant,
            "packages": list(self.packages),
            "wheels": self.wheels.material() if self.wheels else None,
        }
        if found["distribution"] == "debian":
            del found["distribution"]
        if self.downloads:
            found["downloads"] = [download.material() for download in self.downloads]
        return found

    def key(self) -> str:
        """A short name of this spec for its cached tarball: ``bookworm-minbase-<hash>``."""
        digest = _digest(self.material())
        return f"{self.distribution.suite}-{self.variant}-{digest[:16]}"


@attrs.frozen
class ImageFile:
    """A file copied from the host into the image, with ``@NAME@`` placeholders substituted."""

    path: str = attrs.field(converter=_image_path)
    """Where it goes in the image."""
    source: Path = attrs.field(converter=Path)
    mode: int = 0o755
    substitutions: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_pairs)
    """``(NAME, value)``: each ``@NAME@`` in the source becomes ``value``."""

    def content(self) -> bytes:
        """The bytes that go into the image."""
        data = self.source.read_bytes()
        for name, value in self.substitutions:
            data = data.replace(f"@{name}@".encode(), value.encode())
        return data

    def material(self) -> dict[str, object]:
        """What the hash covers: the path, mode and the content itself (not the host path)."""
        return {
            "file": self.path,
            "mode": self.mode,
            "sha256": hashlib.sha256(self.content()).hexdigest(),
        }


@attrs.frozen
class ImageSymlink:
    """A symbolic link in the image (replacing whatever the rootfs has at that path)."""

    path: str = attrs.field(converter=_image_path)
    target: str

    def material(self) -> dict[str, object]:
        """What the hash covers."""
        return {"symlink": self.path, "target": self.target}


#: What a recipe lays over its rootfs.
Overlay = ImageFile | ImageSymlink


def _overlays(value: Iterable[Overlay]) -> tuple[Overlay, ...]:
    return tuple(value)


@attrs.frozen
class ImageRecipe:
    """One runtime image: a rootfs, what is laid over it, and the image's configuration."""

    name: str
    """A short name: ``python3.11``."""
    runtimes: tuple[str, ...] = attrs.field(converter=_strings)
    """The Lambda runtimes the image serves (``anylambda images build --runtime``)."""
    tags: tuple[str, ...] = attrs.field(converter=_strings)
    """Every tag the image gets; the first is its main one."""
    rootfs: RootfsSpec
    files: tuple[Overlay, ...] = attrs.field(default=(), converter=_overlays)
    directories: tuple[str, ...] = attrs.field(
        default=("/var/task", "/var/runtime", "/opt"),
        converter=lambda v: tuple(_image_path(p) for p in v),
    )
    """Directories made (mode 755) if the rootfs lacks them."""
    env: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_pairs)
    entrypoint: tuple[str, ...] = attrs.field(
        default=("/lambda-entrypoint.sh",), converter=_strings
    )
    cmd: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    workdir: str = attrs.field(default="/var/task", converter=_image_path)

    def __attrs_post_init__(self) -> None:
        if not self.tags:
            raise ValueError(f"image recipe {self.name!r} has no tags")

    def material(self) -> dict[str, object]:
        """What the hash covers: everything but the name, runtimes and tags (tagging is free)."""
        return {
            "format": IMAGE_FORMAT,
            "rootfs": self.rootfs.material(),
            "files": [item.material() for item in self.files],
            "directories": list(self.directories),
            "env": [list(pair) for pair in self.env],
            "entrypoint": list(self.entrypoint),
            "cmd": list(self.cmd),
            "workdir": self.workdir,
        }

    def changes(self) -> list[str]:
        """The Dockerfile instructions for ``import --change`` (the label is added apart)."""
        found = [
            f"ENTRYPOINT {json.dumps(list(self.entrypoint))}",
            f"WORKDIR {self.workdir}",
        ]
        if self.cmd:
            found.append(f"CMD {json.dumps(list(self.cmd))}")
        found += [f"ENV {name}={json.dumps(value)}" for name, value in self.env]
        return found


def recipe_hash(recipe: ImageRecipe) -> str:
    """The SHA-256 of everything that decides the image's content (reads the files it copies)."""
    return _digest(recipe.material())


def _digest(material: object) -> str:
    encoded = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()
