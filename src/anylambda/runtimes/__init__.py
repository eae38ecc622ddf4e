"""Built-in language runtimes: Python, Node.js and custom (``provided``) runtimes.

A plugin like any other: :func:`anylambda_add_runtimes` contributes one
:class:`~anylambda.core.models.RuntimeRecipe` per runtime name, with the
container image that serves it and a host launcher for the process backend.
The launchers consult :data:`INTERPRETERS`, which :func:`anylambda_configure`
fills from ``Config.interpreters`` (one process serves one configuration).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from anylambda.core.models import RuntimeRecipe
from anylambda.core.plugins import hookimpl
from anylambda.runtimes.launchers import (
    Interpreters,
    NodeLauncher,
    ProvidedLauncher,
    PythonLauncher,
)

if TYPE_CHECKING:
    from anylambda.core.config import Config

__all__ = ["INTERPRETERS", "anylambda_add_runtimes", "anylambda_configure", "recipes"]

#: Python minor versions of the ``python3.X`` runtimes.
PYTHON_MINORS = range(9, 15)
#: Node.js major versions of the ``nodejsNN.x`` runtimes.
NODE_MAJORS = (18, 20, 22)
#: Custom runtimes and the Amazon Linux image tag each runs on.
PROVIDED_TAGS = {"provided": "alami", "provided.al2": "al2", "provided.al2023": "al2023"}
IMAGE_REPOSITORY = "public.ecr.aws/lambda"

#: The interpreters the recipes of this process use.
INTERPRETERS = Interpreters()


def recipes(interpreters: Interpreters) -> list[RuntimeRecipe]:
    """Every built-in runtime, its host launcher consulting ``interpreters``."""
    found = [
        RuntimeRecipe(
            name=f"python3.{minor}",
            family="python",
            image=f"{IMAGE_REPOSITORY}/python:3.{minor}",
            host=PythonLauncher(f"python3.{minor}", (3, minor), interpreters),
        )
        for minor in PYTHON_MINORS
    ]
    found += [
        RuntimeRecipe(
            name=f"nodejs{major}.x",
            family="nodejs",
            image=f"{IMAGE_REPOSITORY}/nodejs:{major}",
            host=NodeLauncher(f"nodejs{major}.x", major, interpreters),
        )
        for major in NODE_MAJORS
    ]
    found += [
        RuntimeRecipe(
            name=name,
            family="provided",
            image=f"{IMAGE_REPOSITORY}/provided:{tag}",
            host=ProvidedLauncher(),
        )
        for name, tag in PROVIDED_TAGS.items()
    ]
    return found


@hookimpl
def anylambda_configure(config: Config) -> None:
    """Take the interpreter overrides (``interpreters`` in the config)."""
    INTERPRETERS.configure(config.interpreters)


@hookimpl
def anylambda_add_runtimes() -> list[RuntimeRecipe]:
    """Contribute the built-in runtimes."""
    return recipes(INTERPRETERS)
