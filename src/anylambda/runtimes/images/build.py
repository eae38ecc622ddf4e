"""Build recipes into an engine's images, skipping those whose tags are already current.

An image is current when its tag carries the label ``anylambda.recipe`` equal to the
recipe's :func:`~anylambda.runtimes.images.recipe.recipe_hash`. A recipe whose tags are
all current is skipped; one with some current tags gets the others by ``tag``; any other
is imported afresh (over its cached rootfs), and the image its main tag named before is
removed if nothing uses it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Literal, Protocol

import attrs

from anylambda.runtimes.images.layout import write_image_tar
from anylambda.runtimes.images.recipe import RECIPE_LABEL, ImageRecipe, recipe_hash
from anylambda.runtimes.images.rootfs import ensure_rootfs

log = logging.getLogger(__name__)

#: What a build did: imported the image, only added tags, or nothing (all current).
Outcome = Literal["built", "tagged", "cached"]


class ImageEngine(Protocol):
    """What building asks of an engine (:class:`~anylambda.runtimes.images.engine.Engine`)."""

    @property
    def name(self) -> str:
        """``docker`` or ``podman``."""
        ...

    def labels(self, image: str) -> dict[str, str] | None: ...
    def image_id(self, image: str) -> str | None: ...
    def tag(self, source: str, target: str) -> None: ...
    def remove(self, image_id: str) -> bool: ...
    def import_image(
        self, tag: str, changes: list[str], write: Callable[[IO[bytes]], None]
    ) -> str: ...


@attrs.frozen
class Plan:
    """What to do for one recipe, given the labels its tags carry now."""

    build: bool
    """Import the image afresh."""
    retag: tuple[str, ...]
    """Tags to point at :attr:`source` (or at the new image)."""
    source: str | None
    """A current tag to copy from, when not building."""


def plan(
    recipe: ImageRecipe, digest: str, labels: Mapping[str, str | None], *, force: bool = False
) -> Plan:
    """Decide from ``labels`` (tag -> its ``anylambda.recipe`` label, ``None`` if missing)."""
    current = [tag for tag in recipe.tags if labels.get(tag) == digest]
    if current and not force:
        stale = tuple(tag for tag in recipe.tags if tag not in current)
        return Plan(build=False, retag=stale, source=current[0])
    return Plan(build=True, retag=recipe.tags[1:], source=None)


@attrs.frozen
class BuildResult:
    """One recipe's build on one engine."""

    recipe: ImageRecipe
    engine: str
    digest: str
    outcome: Outcome
    seconds: float

    def describe(self) -> str:
        """One line for the user: ``built public.ecr.aws/lambda/python:3.11 (+1 tag) ...``."""
        extra = len(self.recipe.tags) - 1
        tags = f" (+{extra} tag{'s' if extra != 1 else ''})" if extra else ""
        return (
            f"{self.engine}: {self.outcome} {self.recipe.tags[0]}{tags}"
            f" in {self.seconds:.1f} s [recipe {self.digest[:12]}]"
        )


def build_image(
    recipe: ImageRecipe,
    engine: ImageEngine,
    cache_dir: Path,
    *,
    force: bool = False,
    mirrors: Mapping[str, str] | None = None,
) -> BuildResult:
    """Make ``recipe``'s tags current on ``engine``: skip, retag or import (see :func:`plan`).

    :param mirrors: distribution name -> the mirror to use instead of the recipe's.
    """
    started = time.monotonic()
    digest = recipe_hash(recipe)
    labels = {tag: _recipe_label(engine, tag) for tag in recipe.tags}
    decision = plan(recipe, digest, labels, force=force)
    if not decision.build:
        assert decision.source is not None
        for tag in decision.retag:
            engine.tag(decision.source, tag)
        outcome: Outcome = "tagged" if decision.retag else "cached"
    else:
        main = recipe.tags[0]
        previous = engine.image_id(main)
        rootfs = ensure_rootfs(recipe.rootfs, cache_dir, mirrors)
        log.info("%s: importing %s", engine.name, main)
        changes = [*recipe.changes(), f"LABEL {RECIPE_LABEL}={digest}"]
        new = engine.import_image(main, changes, lambda out: write_image_tar(rootfs, recipe, out))
        for tag in decision.retag:
            engine.tag(main, tag)
        if previous and previous != new and engine.remove(previous):
            log.info("%s: removed the previous image of %s", engine.name, main)
        outcome = "built"
    return BuildResult(recipe, engine.name, digest, outcome, time.monotonic() - started)


def _recipe_label(engine: ImageEngine, tag: str) -> str | None:
    labels = engine.labels(tag)
    return None if labels is None else labels.get(RECIPE_LABEL)
