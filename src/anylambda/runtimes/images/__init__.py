"""Runtime images built with no registry: Debian/Ubuntu rootfs + ``docker import``, AWS's layout.

``anylambda images build`` (and ``make images``) turns each :class:`ImageRecipe` into an
image on a Docker or Podman engine, tagged with the names of AWS's Lambda base images
(``public.ecr.aws/lambda/python:3.11``, ...), so container backends and tests have them
offline. Each image carries the recipe's content hash as the label ``anylambda.recipe``;
a build skips tags that already carry it. See docs/backends.md, "Images".
"""

from __future__ import annotations

from anylambda.runtimes.images.build import BuildResult, build_image, plan
from anylambda.runtimes.images.builtin import builtin_recipes
from anylambda.runtimes.images.engine import ENGINES, Engine
from anylambda.runtimes.images.errors import ImageBuildError
from anylambda.runtimes.images.recipe import (
    DEBIAN_MIRROR,
    RECIPE_LABEL,
    UBUNTU_MIRROR,
    Distribution,
    Download,
    ImageFile,
    ImageRecipe,
    ImageSymlink,
    RootfsSpec,
    Wheels,
    debian,
    recipe_hash,
    ubuntu,
)
from anylambda.runtimes.images.rootfs import default_cache_dir

__all__ = [
    "DEBIAN_MIRROR",
    "ENGINES",
    "RECIPE_LABEL",
    "UBUNTU_MIRROR",
    "BuildResult",
    "Distribution",
    "Download",
    "Engine",
    "ImageBuildError",
    "ImageFile",
    "ImageRecipe",
    "ImageSymlink",
    "RootfsSpec",
    "Wheels",
    "build_image",
    "builtin_recipes",
    "debian",
    "default_cache_dir",
    "plan",
    "recipe_hash",
    "select_recipes",
    "ubuntu",
]


def select_recipes(runtimes: list[str] | None = None) -> list[ImageRecipe]:
    """The built-in recipes serving ``runtimes`` (recipe or runtime names); all if none given."""
    recipes = builtin_recipes()
    if not runtimes:
        return recipes
    chosen = []
    for wanted in runtimes:
        match = next((r for r in recipes if wanted == r.name or wanted in r.runtimes), None)
        if match is None:
            known = sorted({name for r in recipes for name in (r.name, *r.runtimes)})
            raise ImageBuildError(
                f"no image recipe for runtime {wanted!r}; known: {', '.join(known)}"
            )
        if match not in chosen:
            chosen.append(match)
    return chosen
