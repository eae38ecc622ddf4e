"""One read-only ``/opt`` for a function's layers, as AWS extracts them into it.

AWS unpacks a function's layers into ``/opt`` in attach order, a later layer's
files replacing an earlier one's. A container backend mounts a single layer's
unpacked directory as it is; several are merged here once per combination, on
the host, into ``<root>/<key>`` (the key hashes the layers' SHA-256s in order)
and reused by every deployment that has the same layers. Files are hard links
to the read-only unpacked layers (copies where linking fails), so modes carry
over; symlinks are recreated, never followed, and nothing is ever written
through one. It blocks: call it through ``anyio.to_thread``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from anylambda.core.codepkg import install_read_only, remove_tree
from anylambda.core.models import LaunchSpec


def merged_dir(root: Path, layer_sha256s: Sequence[str]) -> Path:
    """Where the merge of the layers with these SHA-256s, in this order, lives under ``root``."""
    key = hashlib.sha256("\n".join(layer_sha256s).encode()).hexdigest()
    return root / key


def merge_layers(layer_dirs: Sequence[Path], dest: Path) -> Path:
    """Build ``dest``, the layers laid over one another in order, unless it exists already.

    ``dest`` is complete or absent (built aside, then renamed), and read-only.
    """
    if not dest.is_dir():
        dest.parent.mkdir(parents=True, exist_ok=True)

        def fill(tmp: Path) -> None:
            for layer in layer_dirs:
                _overlay(layer, tmp)

        install_read_only(dest, fill)
    return dest


def _overlay(src: Path, dst: Path) -> None:
    """Lay the tree ``src`` over the real directory ``dst``: what ``src`` has replaces what was."""
    with os.scandir(src) as entries:
        for entry in entries:
            target = dst / entry.name
            if entry.is_dir(follow_symlinks=False):
                if target.is_symlink() or not target.is_dir():
                    remove_tree(target)
                    target.mkdir()
                _overlay(Path(entry.path), target)
                continue
            remove_tree(target)
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), target)
            else:
                _link_or_copy(Path(entry.path), target)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:  # another filesystem, or linking not allowed: copy, with its mode
        shutil.copy2(src, dst, follow_symlinks=False)


def opt_dir(root: Path, spec: LaunchSpec) -> Path | None:
    """What an instance gets at ``/opt``: nothing, its one layer, or its layers' merge."""
    if len(spec.layer_dirs) <= 1:
        return next(iter(spec.layer_dirs), None)
    return merged_dir(root, [layer.code.sha256 for layer in spec.function.layers])
