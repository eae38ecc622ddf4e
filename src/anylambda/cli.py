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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``anylambda`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
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
