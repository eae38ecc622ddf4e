"""Safe zip extraction: limits, zip-slip, symlinks, modes, atomicity."""

from __future__ import annotations

import io
import os
import stat
import tempfile
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anylambda.core.codepkg import DEFAULT_LIMITS, UNZIP_ERROR, ZipLimits, extract_zip, remove_tree
from anylambda.core.errors import InvalidParameterValueError, RequestEntityTooLargeError

Entry = tuple[str, bytes, int | None]


def make_zip(*entries: Entry) -> bytes:
    """A deflated zip of (name, data, unix mode) entries, names written verbatim.

    A mode of None makes a Windows-style entry: DOS attributes only, no unix mode.
    """
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": some tests mean it
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode is None:
                info.create_system = 0
                info.external_attr = 0x10 if name.endswith("/") else 0x20
            else:
                info.external_attr = mode << 16
            archive.writestr(info, data)
    return buf.getvalue()


def link(name: str, target: str) -> Entry:
    return (name, target.encode(), stat.S_IFLNK | 0o777)


def tree(root: Path) -> set[str]:
    """Every path under root, relative to it, symlinks not followed."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """tmp_path/outside/parent/ with a file on each level, so escapes would show."""
    parent = tmp_path / "outside" / "parent"
    parent.mkdir(parents=True)
    (tmp_path / "outside" / "keep").write_text("x")
    (parent / "keep").write_text("x")
    return parent


def assert_rejected(data: bytes, work: Path, limits: ZipLimits = DEFAULT_LIMITS) -> str:
    """Extraction fails and leaves the whole tree as it was; return the error message."""
    before = tree(work.parent.parent)
    with pytest.raises(InvalidParameterValueError) as caught:
        extract_zip(data, work / "code", limits)
    assert tree(work.parent.parent) == before
    return caught.value.message


def test_valid_zip_extracts_with_modes_and_ends_read_only(work: Path) -> None:
    data = make_zip(
        ("bootstrap", b"#!/bin/sh\n", stat.S_IFREG | 0o755),
        ("lib/", b"", stat.S_IFDIR | 0o755),
        ("lib/mod.py", b"print(1)\n", stat.S_IFREG | 0o664),
        ("plain.txt", b"no unix mode", None),
        ("deep/er/file", b"abc", None),
        link("lib/alias.py", "mod.py"),
        link("top", "deep/er"),
    )
    dest = work / "code"
    total = extract_zip(data, dest)

    assert total == len(b"#!/bin/sh\n") + len(b"print(1)\n") + len(b"no unix mode") + 3
    assert tree(dest) == {
        "bootstrap",
        "lib",
        "lib/mod.py",
        "lib/alias.py",
        "plain.txt",
        "deep",
        "deep/er",
        "deep/er/file",
        "top",
    }
    mode = lambda p: stat.S_IMODE((dest / p).lstat().st_mode)  # noqa: E731
    assert mode("bootstrap") == 0o555
    assert mode("lib/mod.py") == 0o444
    assert mode("plain.txt") == 0o444
    assert all(mode(d) == 0o555 for d in ("", "lib", "deep", "deep/er"))
    assert os.readlink(dest / "lib" / "alias.py") == "mod.py"
    assert (dest / "top" / "file").read_bytes() == b"abc"
    assert sorted(os.listdir(work)) == ["code", "keep"]


def test_existing_destination_wins_a_race(work: Path) -> None:
    dest = work / "code"
    dest.mkdir()
    (dest / "theirs").write_text("x")
    assert extract_zip(make_zip(("ours", b"y", None)), dest) == 1
    assert tree(dest) == {"theirs"}
    assert sorted(os.listdir(work)) == ["code", "keep"]


@pytest.mark.parametrize(
    "data",
    [b"", b"not a zip at all", b"PK\x03\x04" + b"\0" * 100],
    ids=["empty", "text", "bad-header"],
)
def test_not_a_zip_is_rejected(work: Path, data: bytes) -> None:
    assert assert_rejected(data, work) == UNZIP_ERROR


def test_truncated_zip_is_rejected(work: Path) -> None:
    data = make_zip(("a.py", os.urandom(4096), None))
    assert assert_rejected(data[: len(data) // 2], work) == UNZIP_ERROR


def test_bad_crc_is_rejected(work: Path) -> None:
    payload = b"hello world" * 100
    # Stored, so the payload is visible: flip one of its bytes.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("a.txt", payload)
    data = bytearray(buf.getvalue())
    data[data.index(payload) + 5] ^= 0xFF
    assert assert_rejected(bytes(data), work) == UNZIP_ERROR


@pytest.mark.parametrize(
    "name",
    ["../evil", "a/../../evil", "/abs", "/tmp/evil", "..", "a\\..\\..\\evil", "C:/evil", "C:evil"],
)
def test_unsafe_member_paths_are_rejected(work: Path, name: str) -> None:
    message = assert_rejected(make_zip(("ok", b"x", None), (name, b"evil", None)), work)
    assert message.startswith(UNZIP_ERROR)


def test_nul_in_member_name_is_rejected(work: Path) -> None:
    # zipfile cuts names at NUL when writing, so patch one in afterwards.
    data = make_zip(("evilXpasswd", b"x", None)).replace(b"evilX", b"evil\0")
    assert assert_rejected(data, work).startswith(UNZIP_ERROR)


def test_dot_dot_that_stays_inside_is_fine(work: Path) -> None:
    extract_zip(make_zip(("a/../b", b"x", None)), work / "code")
    assert tree(work / "code") == {"b"}


@pytest.mark.parametrize(
    "entries",
    [
        [link("passwd", "../../etc/passwd")],
        [link("passwd", "/etc/passwd")],
        [link("sub/up", "../..")],
        [link("sub/up", ".."), link("sub/up2", "up/..")],  # escapes only through another link
        [link("a", "b"), link("b", "../outside")],
        [link("dir", "."), link("dir/x", "y")],  # nothing is created through a symlink
        [link("dir", "sub"), ("sub/", b"", None), ("dir/x", b"escape?", None)],
        [link("empty", "")],
    ],
)
def test_symlinks_pointing_outside_are_rejected(work: Path, entries: list[Entry]) -> None:
    assert assert_rejected(make_zip(*entries), work).startswith(UNZIP_ERROR)


def test_symlink_target_is_checked_after_all_links_exist(work: Path) -> None:
    extract_zip(
        make_zip(link("a", "b/c"), link("b", "real"), ("real/c", b"x", None)), work / "code"
    )
    assert (work / "code" / "a").read_bytes() == b"x"


def test_declared_bomb_is_rejected_before_writing(work: Path) -> None:
    data = make_zip(("bomb", b"\0" * 200_000, None))
    limits = ZipLimits(max_unzipped_bytes=100_000)
    assert assert_rejected(data, work, limits) == "Unzipped size must be smaller than 100000 bytes"


def test_bomb_with_lying_sizes_is_rejected(work: Path) -> None:
    payload = b"\0" * 1_000_000
    data = bytearray(make_zip(("bomb", payload, None)))
    # Claim 10 bytes in both the local header (offset 22) and the central directory (24).
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    data[local + 22 : local + 26] = (10).to_bytes(4, "little")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    assert assert_rejected(bytes(data), work, ZipLimits(max_unzipped_bytes=1000))


def test_bytes_are_counted_while_writing(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # zipfile never yields more than the declared size (it fails the CRC instead), so stand
    # in a reader that does, as a less careful decompressor might.
    data = make_zip(("a", b"", None), ("b", b"", None))
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *_a, **_k: io.BytesIO(b"\0" * 5000))
    message = assert_rejected(data, work, ZipLimits(max_unzipped_bytes=8000))
    assert message == "Unzipped size must be smaller than 8000 bytes"


def test_too_many_entries_are_rejected(work: Path) -> None:
    data = make_zip(*[(f"f{i}", b"", None) for i in range(11)])
    assert assert_rejected(data, work, ZipLimits(max_entries=10)).startswith(UNZIP_ERROR)
    extract_zip(data, work / "code", ZipLimits(max_entries=11))


def test_zip_too_large_is_rejected(work: Path) -> None:
    data = make_zip(("a", os.urandom(2000), None))
    with pytest.raises(RequestEntityTooLargeError, match="smaller than 1000 bytes"):
        extract_zip(data, work / "code", ZipLimits(max_zip_bytes=1000))
    assert sorted(os.listdir(work)) == ["keep"]


@pytest.mark.parametrize(
    "entries",
    [
        [("a", b"x", None), ("a/", b"", None)],
        [("a", b"x", None), ("a/b", b"y", None)],
        [("a/b", b"y", None), ("a", b"x", None)],
        [("a", b"x", None), link("a", "b")],
    ],
)
def test_clashing_entries_are_rejected(work: Path, entries: list[Entry]) -> None:
    assert assert_rejected(make_zip(*entries), work).startswith(UNZIP_ERROR)


def test_repeated_file_entry_keeps_the_last(work: Path) -> None:
    data = make_zip(("a", b"first", None), ("a", b"second", 0o100755))
    extract_zip(data, work / "code")
    assert (work / "code" / "a").read_bytes() == b"second"
    assert stat.S_IMODE((work / "code" / "a").stat().st_mode) == 0o555


def test_remove_tree_handles_read_only_trees(work: Path) -> None:
    extract_zip(make_zip(("d/e/f", b"x", None), link("l", "d")), work / "code")
    (work / "alias").symlink_to(work / "code")
    remove_tree(work / "alias")  # a symlink is unlinked, never followed
    assert (work / "code" / "d" / "e" / "f").exists()
    remove_tree(work / "code")
    remove_tree(work / "code")
    assert sorted(os.listdir(work)) == ["keep"]


segments = st.sampled_from(["..", ".", "", "a", "b", "C:", "\\", "..\\..", "x" * 300, "é"])
member_names = st.lists(segments, min_size=1, max_size=5).map("/".join)
members = st.tuples(
    member_names,
    st.sampled_from(["file", "dir", "link"]),
    member_names,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(members, min_size=1, max_size=6))
def test_arbitrary_members_never_escape(entries: list[tuple[str, str, str]]) -> None:
    zipped = []
    for name, kind, target in entries:
        if kind == "link":
            zipped.append(link(name, target))
        elif kind == "dir":
            zipped.append((name.rstrip("/") + "/", b"", None))
        else:
            zipped.append((name, b"data", None))
    with tempfile.TemporaryDirectory() as top:
        parent = Path(top) / "outside" / "parent"
        parent.mkdir(parents=True)
        dest = parent / "code"
        try:
            extract_zip(make_zip(*zipped), dest)
        except InvalidParameterValueError:
            assert tree(Path(top)) == {"outside", "outside/parent"}
            return
        assert all(
            p in ("outside", "outside/parent") or p.startswith("outside/parent/code")
            for p in tree(Path(top))
        )
        root = os.path.realpath(dest)
        for path in tree(dest):
            assert os.path.commonpath([root, os.path.realpath(dest / path)]) == root


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupted_bytes_give_a_clean_error(data: st.DataObject) -> None:
    original = make_zip(("a/b.py", b"print('hi')\n" * 20, 0o100644), link("c", "a/b.py"))
    corrupt = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        corrupt[data.draw(st.integers(0, len(corrupt) - 1))] = data.draw(st.integers(0, 255))
    with tempfile.TemporaryDirectory() as top:
        dest = Path(top) / "code"
        try:
            extract_zip(bytes(corrupt), dest)
        except InvalidParameterValueError:
            assert os.listdir(top) == []
        else:
            assert os.listdir(top) == ["code"]
            root = os.path.realpath(dest)
            for path in tree(dest):
                assert os.path.commonpath([root, os.path.realpath(dest / path)]) == root
