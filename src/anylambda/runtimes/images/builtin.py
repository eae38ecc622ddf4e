"""The built-in image recipes: Python 3.11 and 3.13, Node.js 18 and 20, custom runtimes.

Each is a Debian rootfs (``debootstrap --variant=minbase``) laid out like AWS's Lambda
base images: the code in ``/var/task`` (the working directory), layers in ``/opt``, the
runtime in ``/var/runtime`` with its ``bootstrap``, and ``/lambda-entrypoint.sh`` as the
entrypoint, which execs the bootstrap on the handler (the command) when
``AWS_LAMBDA_RUNTIME_API`` is set. Each Debian release has one Python and one Node.js:
bookworm's (3.11, 18) and trixie's (3.13, 20) are the versions built here (see
:data:`PYTHON_SUITES`, :data:`NODE_SUITES`); the images are tagged with the names of AWS's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from anylambda.runtimes.images.recipe import (
    ImageFile,
    ImageRecipe,
    ImageSymlink,
    RootfsSpec,
    Wheels,
)

FILES = Path(__file__).parent / "files"
#: Our Node.js Runtime Interface Client, shared with the process backend.
NODE_CLIENT = Path(__file__).parent.parent / "node" / "bootstrap.js"
REPOSITORY = "public.ecr.aws/lambda"
#: The Runtime Interface Client and the AWS SDK, as AWS's Python images have them.
PYTHON_REQUIREMENTS = ("awslambdaric==4.2.2", "boto3==1.44.5")
#: The Debian release whose ``python3`` / ``nodejs`` is each version built here.
PYTHON_SUITES = {"3.11": "bookworm", "3.13": "trixie"}
NODE_SUITES = {18: "bookworm", 20: "trixie"}

#: The environment of AWS's base images, less their ``/var/lang`` (Debian's are in /usr).
BASE_ENV = (
    ("LANG", "C.UTF-8"),
    ("TZ", ":/etc/localtime"),
    ("PATH", "/usr/local/bin:/usr/bin:/bin:/opt/bin"),
    (
        "LD_LIBRARY_PATH",
        "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
    ),
    ("LAMBDA_TASK_ROOT", "/var/task"),
    ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
)
ENTRYPOINT = ImageFile("/lambda-entrypoint.sh", FILES / "lambda-entrypoint.sh")


def python_recipe(version: str = "3.11") -> ImageRecipe:
    """Debian's Python ``version`` with awslambdaric (and boto3) in ``/var/runtime``."""
    suite = _suite(PYTHON_SUITES, version, "Python")
    return ImageRecipe(
        name=f"python{version}",
        runtimes=(f"python{version}",),
        tags=(f"{REPOSITORY}/python:{version}", f"{REPOSITORY}/python:{version}-x86_64"),
        rootfs=RootfsSpec(
            packages=("python3", "ca-certificates"),
            suite=suite,
            wheels=Wheels(PYTHON_REQUIREMENTS, python_version=version),
        ),
        files=(
            ENTRYPOINT,
            ImageFile(
                "/var/runtime/bootstrap",
                FILES / "python-bootstrap.sh",
                substitutions={"PYTHON_VERSION": version},
            ),
        ),
        env=(*BASE_ENV, ("PYTHONPATH", "/var/runtime")),
        cmd=("lambda_function.lambda_handler",),
    )


def nodejs_recipe(major: int = 18) -> ImageRecipe:
    """Debian's Node.js ``major`` with our Runtime Interface Client."""
    suite = _suite(NODE_SUITES, major, "Node.js")
    return ImageRecipe(
        name=f"nodejs{major}.x",
        runtimes=(f"nodejs{major}.x",),
        tags=(f"{REPOSITORY}/nodejs:{major}", f"{REPOSITORY}/nodejs:{major}-x86_64"),
        rootfs=RootfsSpec(packages=("nodejs", "ca-certificates"), suite=suite),
        files=(
            ENTRYPOINT,
            ImageFile("/var/runtime/bootstrap.js", NODE_CLIENT, mode=0o644),
            ImageFile(
                "/var/runtime/bootstrap",
                FILES / "node-bootstrap.sh",
                substitutions={"NODE_MAJOR": str(major)},
            ),
        ),
        env=(
            *BASE_ENV,
            (
                "NODE_PATH",
                f"/opt/nodejs/node{major}/node_modules:/opt/nodejs/node_modules"
                ":/var/runtime/node_modules:/var/runtime:/var/task",
            ),
        ),
        cmd=("index.handler",),
    )


def provided_recipe() -> ImageRecipe:
    """bash, curl and CA certificates; ``/bin/sh`` is bash, as on Amazon Linux."""
    return ImageRecipe(
        name="provided",
        runtimes=("provided.al2023", "provided.al2", "provided"),
        tags=(
            f"{REPOSITORY}/provided:al2023",
            f"{REPOSITORY}/provided:al2",
            f"{REPOSITORY}/provided:alami",
            f"{REPOSITORY}/provided:al2023-x86_64",
            f"{REPOSITORY}/provided:al2-x86_64",
        ),
        rootfs=RootfsSpec(packages=("bash", "curl", "ca-certificates")),
        files=(
            ENTRYPOINT,
            ImageFile("/var/runtime/bootstrap", FILES / "provided-bootstrap.sh"),
            ImageSymlink("/bin/sh", "bash"),
        ),
        env=BASE_ENV,
        cmd=("function.handler",),
    )


def builtin_recipes() -> list[ImageRecipe]:
    """Every built-in recipe, Python 3.11 first (the one most tests need)."""
    return [
        *(python_recipe(version) for version in PYTHON_SUITES),
        *(nodejs_recipe(major) for major in NODE_SUITES),
        provided_recipe(),
    ]


K = TypeVar("K")


def _suite(suites: Mapping[K, str], version: K, what: str) -> str:
    """The Debian release that ships ``what`` ``version``; a clear error if none does."""
    try:
        return suites[version]
    except KeyError:
        known = ", ".join(str(v) for v in suites)
        message = f"no Debian release here ships {what} {version} (known: {known})"
        raise ValueError(message) from None
