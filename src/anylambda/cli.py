"""The ``anylambda`` command."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

import anyio

from anylambda.core.config import Config
from anylambda.core.errors import ConfigurationError

DESCRIPTION = """\
anylambda runs AWS Lambda functions on this machine - as local processes, or in
containers - behind the AWS Lambda API, so boto3, the AWS CLI, SAM and Terraform
work against it unchanged: point them at the server with --endpoint-url.

  anylambda serve                       start on http://127.0.0.1:9000
  aws lambda list-functions --endpoint-url http://127.0.0.1:9000
"""

IMAGES_DESCRIPTION = """\
Build the runtime images with no registry: a Debian or Ubuntu rootfs made with debootstrap
(cached), the AWS base images' layout laid over it, imported into Docker or
Podman and tagged like AWS's (public.ecr.aws/lambda/python:3.11, ...). An image
whose label anylambda.recipe matches its recipe is left alone.

  anylambda images build                      every image, for docker
  anylambda images build --engine podman --runtime python3.11
"""

SERVE_EPILOG = """\
settings are read, later winning, from: defaults, the --config TOML file,
ANYLAMBDA_* environment variables (e.g. ANYLAMBDA_PORT=9001), then flags.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="anylambda",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve = commands.add_parser(
        "serve",
        help="run the Lambda API server",
        description="Run the AWS Lambda API server until Ctrl-C or SIGTERM.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=int, help="port to listen on; 0 picks a free one (default 9000)"
    )
    serve.add_argument(
        "--data-dir", type=Path, help="where functions and code are kept (default ./.anylambda)"
    )
    serve.add_argument(
        "--backend", help="what runs functions: process (default), or a plugin's backend"
    )
    serve.add_argument(
        "--config", type=Path, help="TOML file with settings (see docs/configuration.md)"
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="how much to log (default info; function output is logged at info)",
    )
    _add_images_parser(commands)
    return parser


def _add_images_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``anylambda images build|list``: the runtime images, built with no registry."""
    images = commands.add_parser(
        "images",
        help="build the runtime images (no registry needed)",
        description=IMAGES_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = images.add_subparsers(dest="images_command", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build",
        help="build the images that are missing or out of date",
        description="Build (or re-tag) each recipe's image unless it is current.",
    )
    _add_image_options(build)
    build.add_argument("--force", action="store_true", help="rebuild even if the image is current")
    build.add_argument(
        "--mirror",
        action="append",
        metavar="[DISTRIBUTION=]URL",
        help="a mirror for debootstrap instead of http://deb.debian.org/debian (debian, the "
        "default) or http://archive.ubuntu.com/ubuntu (ubuntu); repeatable",
    )
    build.add_argument(
        "--cache-dir",
        type=Path,
        help="root filesystem and wheel cache (default ${XDG_CACHE_HOME:-~/.cache}/anylambda)",
    )
    listing = actions.add_parser(
        "list",
        help="show the recipes, their tags, and whether the engine's images are current",
        description="Show each recipe's runtimes, tags, hash and state on the engine.",
    )
    _add_image_options(listing)
    for parser in (build, listing):
        parser.set_defaults(log_level="info")


def _add_image_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        default="docker",
        choices=["docker", "podman"],
        help="the engine to build into, through its CLI (default docker)",
    )
    parser.add_argument(
        "--runtime",
        action="append",
        metavar="NAME",
        help="only the image for this runtime, e.g. python3.11 (repeatable; default all)",
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``anylambda`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "images":
        return _images(args)
    try:
        config = Config.load(
            args.config,
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            backend=args.backend,
        )
    except ConfigurationError as exc:
        print(f"anylambda: {exc}", file=sys.stderr)
        return 2
    status = 0
    try:
        anyio.run(_serve, config, backend="asyncio")
    except* ConfigurationError as group:
        status = _report(group, 2)
    except* OSError as group:
        status = _report(group, 1)
    return status


def _report(group: BaseExceptionGroup[Exception], status: int) -> int:
    """Print the errors that stopped the server, one line each, with no traceback."""
    for exc in _leaves(group):
        print(f"anylambda: {exc}", file=sys.stderr)
    return status


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _images(args: argparse.Namespace) -> int:
    """Run ``anylambda images build|list``; errors are one line, with no traceback."""
    from anylambda.runtimes import images

    try:
        recipes = images.select_recipes(args.runtime)
        engine = images.Engine.find(args.engine)
        if args.images_command == "list":
            for recipe in recipes:
                digest = images.recipe_hash(recipe)
                print(f"{recipe.name} ({', '.join(recipe.runtimes)}) recipe {digest[:12]}")
                for tag in recipe.tags:
                    labels = engine.labels(tag)
                    state = (
                        "missing"
                        if labels is None
                        else "current"
                        if labels.get(images.RECIPE_LABEL) == digest
                        else "out of date"
                    )
                    print(f"  {tag}: {state}")
            return 0
        cache_dir = args.cache_dir or images.default_cache_dir()
        for recipe in recipes:
            result = images.build_image(
                recipe,
                engine,
                cache_dir,
                force=args.force,
                mirrors=_mirrors(args.mirror or []),
            )
            print(result.describe(), flush=True)
    except images.ImageBuildError as exc:
        print(f"anylambda images: {exc}", file=sys.stderr)
        return 1
    return 0


def _mirrors(values: list[str]) -> dict[str, str]:
    """``--mirror`` values as distribution name -> URL; a bare URL is Debian's."""
    found = {}
    for value in values:
        name, named, url = value.partition("=")
        if not named or "/" in name:
            name, url = "debian", value
        found[name] = url
    return found


async def _serve(config: Config) -> None:
    from anylambda.server import serve

    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_stop_on_signal, stop)
        await serve(
            config,
            stop=stop,
            on_ready=lambda url: print(f"anylambda listening on {url}", flush=True),
        )
        tg.cancel_scope.cancel()


async def _stop_on_signal(stop: anyio.Event) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            stop.set()
            return


if __name__ == "__main__":
    sys.exit(main())
