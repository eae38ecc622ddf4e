"""Several layers merged into one read-only /opt for the container backends: no engine needed."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from anylambda.backends.container.opt import merge_layers, merged_dir


def unpacked(
    root: Path, files: Mapping[str, str | tuple[str, int]], links: Mapping[str, str] | None = None
) -> Path:
    """A layer as the code store unpacks one, read-only: files (text, or text and mode), links."""
    for name, content in files.items():
        text, mode = content if isinstance(content, tuple) else (content, 0o444)
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
    for name, target in (links or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).symlink_to(target)
    for directory, _dirs, _files in os.walk(root):
        os.chmod(directory, 0o555)
    return root


def merge(tmp_path: Path, *layers: Path) -> Path:
    return merge_layers(layers, merged_dir(tmp_path / "opt", [layer.name for layer in layers]))


def test_later_layers_win_and_the_rest_of_each_stays(tmp_path: Path) -> None:
    first = unpacked(
        tmp_path / "1",
        {"python/shared.py": "one", "python/only_first.py": "1", "bin/tool": ("one", 0o555)},
    )
    second = unpacked(
        tmp_path / "2",
        {"python/shared.py": "two", "python/only_second.py": "2", "bin/tool": ("two", 0o550)},
    )
    opt = merge(tmp_path, first, second)
    assert (opt / "python" / "shared.py").read_text() == "two"
    assert (opt / "python" / "only_first.py").read_text() == "1"
    assert (opt / "python" / "only_second.py").read_text() == "2"
    tool = opt / "bin" / "tool"
    assert tool.read_text() == "two"
    assert stat.S_IMODE(tool.stat().st_mode) == 0o550, "a file keeps its mode"
    assert tool.stat().st_ino == (second / "bin" / "tool").stat().st_ino, "linked, not copied"
    for directory, _dirs, _files in os.walk(opt):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o555


def test_order_decides_which_layer_wins(tmp_path: Path) -> None:
    first = unpacked(tmp_path / "1", {"python/shared.py": "one"})
    second = unpacked(tmp_path / "2", {"python/shared.py": "two"})
    assert (merge(tmp_path, second, first) / "python" / "shared.py").read_text() == "one"
    assert (merge(tmp_path, first, second) / "python" / "shared.py").read_text() == "two"


def test_symlinks_are_recreated_and_never_written_through(tmp_path: Path) -> None:
    first = unpacked(
        tmp_path / "1",
        {"lib/a.so": "a", "real/keep": "k"},
        links={"data": "real", "bin/run": "../lib/a.so"},
    )
    second = unpacked(tmp_path / "2", {"lib64/b.so": "b", "data/x": "x"}, links={"lib": "lib64"})
    opt = merge(tmp_path, first, second)
    assert (opt / "lib").is_symlink() and os.readlink(opt / "lib") == "lib64"
    assert sorted(p.name for p in (opt / "lib64").iterdir()) == ["b.so"], "nothing went through"
    assert not (opt / "data").is_symlink() and (opt / "data" / "x").read_text() == "x"
    assert sorted(p.name for p in (opt / "real").iterdir()) == ["keep"], "nothing went through"
    assert os.readlink(opt / "bin" / "run") == "../lib/a.so"
    assert not (first / "real" / "x").exists() and not (first / "lib" / "b.so").exists()


def test_a_file_replaces_a_directory_and_the_other_way_round(tmp_path: Path) -> None:
    first = unpacked(tmp_path / "1", {"thing/inside": "i", "plain": "p"})
    second = unpacked(tmp_path / "2", {"thing": "now a file", "plain/inside": "now a dir"})
    opt = merge(tmp_path, first, second)
    assert (opt / "thing").read_text() == "now a file"
    assert (opt / "plain" / "inside").read_text() == "now a dir"


def test_a_merge_is_built_once_and_reused(tmp_path: Path) -> None:
    first = unpacked(tmp_path / "1", {"a": "1"})
    second = unpacked(tmp_path / "2", {"b": "2"})
    opt = merge(tmp_path, first, second)
    built = opt.stat().st_ino
    assert merge(tmp_path, first, second) == opt
    assert opt.stat().st_ino == built, "the existing merge is reused, not rebuilt"
    assert [p.name for p in opt.parent.iterdir()] == [opt.name], "no half-built leftovers"
