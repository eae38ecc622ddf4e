"""The slow stage: a Debian or Ubuntu root filesystem from ``debootstrap``, cached as a tarball.

One tarball per :class:`RootfsSpec` (``<cache>/rootfs/<suite>-<variant>-<hash>.tar``),
shared by every recipe with that spec and kept until the cache is cleared. Making one
needs root (debootstrap, chroot). Packages ``debootstrap`` downloads are kept in
``<cache>/debs``, wheels in ``<cache>/wheels`` and other downloads in
``<cache>/downloads``, so a second rootfs downloads little.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from anylambda.runtimes.images import downloads
from anylambda.runtimes.images.errors import ImageBuildError
from anylambda.runtimes.images.recipe import Distribution, RootfsSpec, Wheels

log = logging.getLogger(__name__)

#: Where debootstrap keeps its scripts (its own ``DEBOOTSTRAP_DIR`` moves them).
DEBOOTSTRAP_DIR = Path(os.environ.get("DEBOOTSTRAP_DIR", "/usr/share/debootstrap"))
#: Left out of the tarball: apt's package lists and caches (the image has no use for them).
_PRUNED = ("var/lib/apt/lists", "var/cache/apt", "var/cache/debconf/templates.dat-old")


def default_cache_dir() -> Path:
    """``$ANYLAMBDA_CACHE_DIR``, else ``${XDG_CACHE_HOME:-~/.cache}/anylambda``."""
    explicit = os.environ.get("ANYLAMBDA_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "anylambda"


def rootfs_path(spec: RootfsSpec, cache_dir: Path) -> Path:
    """Where the tarball of ``spec`` is (or will be) cached."""
    return cache_dir / "rootfs" / f"{spec.key()}.tar"


def ensure_rootfs(
    spec: RootfsSpec, cache_dir: Path, mirrors: Mapping[str, str] | None = None
) -> Path:
    """The cached tarball of ``spec``, made first if it is not there yet.

    :param mirrors: distribution name -> the mirror to use instead of the recipe's.
    """
    path = rootfs_path(spec, cache_dir)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_suffix(".lock")):
        if not path.is_file():  # another build may have made it while we waited
            distribution = spec.distribution
            mirror = (mirrors or {}).get(distribution.name, distribution.mirror)
            _make_rootfs(spec, cache_dir, mirror, path)
    return path


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _require_tools() -> None:
    if os.geteuid() != 0:
        raise ImageBuildError(
            "making a root filesystem needs root (debootstrap and chroot): run "
            "`anylambda images build` as root; cached ones are reused without it"
        )
    for tool in ("debootstrap", "chroot", "tar"):
        if shutil.which(tool) is None:
            raise ImageBuildError(
                f"{tool} is not installed: apt-get install debootstrap (it is needed "
                "to make the images' Debian root filesystem)"
            )


def _require_keyring(distribution: Distribution) -> None:
    if distribution.keyring is None or Path(distribution.keyring).is_file():
        return
    raise ImageBuildError(
        f"{distribution.keyring} is missing: debootstrap needs it to verify the "
        f"{distribution.name} archive ({distribution.keyring_hint})"
    )


def debootstrap_command(spec: RootfsSpec, root: Path, mirror: str, debs: Path) -> list[str]:
    """The ``debootstrap`` command line that makes ``spec``'s root filesystem in ``root``."""
    distribution = spec.distribution
    command = ["debootstrap", f"--variant={spec.variant}", f"--cache-dir={debs}"]
    if distribution.keyring is not None:
        command.append(f"--keyring={distribution.keyring}")
    if spec.packages:
        command.append("--include=" + ",".join(spec.packages))
    command += [distribution.suite, str(root), mirror]
    if distribution.script is not None:
        command.append(str(DEBOOTSTRAP_DIR / "scripts" / distribution.script))
    return command


def _make_rootfs(spec: RootfsSpec, cache_dir: Path, mirror: str, path: Path) -> None:
    _require_keyring(spec.distribution)
    _require_tools()
    work = Path(tempfile.mkdtemp(prefix=f".{spec.key()}-", dir=path.parent))
    try:
        root = work / "root"
        release = f"{spec.distribution.name} {spec.distribution.suite}"
        log.info("debootstrap %s (%s) into %s", release, ", ".join(spec.packages), root)
        debs = cache_dir / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        command = debootstrap_command(spec, root, mirror, debs)
        _run(command, what="debootstrap", log_dir=work)
        if spec.wheels is not None:
            _install_wheels(spec.wheels, root, cache_dir)
        for download in spec.downloads:
            downloads.unpack(download, downloads.fetch(download, cache_dir), root)
        for pruned in _PRUNED:
            _clear(root / pruned)
        partial = work / "rootfs.tar"
        _run(
            ["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."],
            what="tar",
            log_dir=work,
        )
        os.replace(partial, path)
        log.info("cached the root filesystem as %s", path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _clear(path: Path) -> None:
    """Empty a directory (keeping it) or remove a file."""
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    elif path.exists():
        path.unlink()


def _install_wheels(wheels: Wheels, root: Path, cache_dir: Path) -> None:
    """Unpack the wheels into the rootfs and byte-compile them with its own interpreter."""
    target = root / wheels.target.lstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    for wheel in download_wheels(wheels, cache_dir):
        unpack_wheel(wheel, target)
    _run(
        [
            "chroot",
            str(root),
            f"python{wheels.python_version}",
            "-m",
            "compileall",
            "-q",
            wheels.target,
        ],
        what="compileall",
        log_dir=root.parent,
    )


def download_wheels(wheels: Wheels, cache_dir: Path) -> list[Path]:
    """The wheels of ``wheels.requirements`` for the image's interpreter, downloaded once."""
    digest = hashlib.sha256(json.dumps(wheels.material(), sort_keys=True).encode()).hexdigest()
    folder = cache_dir / "wheels" / digest[:16]
    done = folder / ".complete"
    if not done.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        log.info("pip download %s", " ".join(wheels.requirements))
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            wheels.python_version,
            "--dest",
            str(folder),
        ]
        for platform in wheels.platforms:
            command += ["--platform", platform]
        _run([*command, *wheels.requirements], what="pip download", log_dir=folder)
        done.touch()
    return sorted(folder.glob("*.whl"))


def unpack_wheel(wheel: Path, target: Path) -> None:
    """Install one wheel into ``target`` by unpacking it (its purelib/platlib data too).

    Scripts, headers and data files are left out; files get mode 644, directories 755.
    """
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            relative = _installed_name(info.filename)
            if relative is None or info.is_dir():
                continue
            destination = target.joinpath(*relative.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, destination.open("wb") as sink:
                shutil.copyfileobj(source, sink)
            destination.chmod(0o644)
    for directory in (target, *(p for p in target.rglob("*") if p.is_dir())):
        directory.chmod(0o755)


def _installed_name(name: str) -> PurePosixPath | None:
    """Where a wheel member goes, relative to site-packages; ``None`` to leave it out."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise ImageBuildError(f"a wheel member escapes its target: {name!r}")
    parts = path.parts
    if parts and parts[0].endswith(".data"):
        if len(parts) > 2 and parts[1] in ("purelib", "platlib"):
            return PurePosixPath(*parts[2:])
        return None
    return path


def _run(command: list[str], *, what: str, log_dir: Path) -> None:
    """Run a build step, its output in a log file; fail with the log's tail."""
    log_file = log_dir / f"{what.replace(' ', '-')}.log"
    with log_file.open("wb") as output:
        try:
            done = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=False)
        except OSError as exc:
            raise ImageBuildError(f"{what} could not run: {exc}") from exc
    if done.returncode != 0:
        tail = log_file.read_text(errors="replace").strip().splitlines()[-15:]
        raise ImageBuildError(
            f"{what} failed (exit {done.returncode}):\n" + "\n".join(f"  {line}" for line in tail)
        )
