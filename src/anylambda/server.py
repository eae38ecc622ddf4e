"""The server: a :class:`~anylambda.Runtime` plus every frontend, on one Hypercorn listener.

Frontends contribute Quart blueprints (mounted on one app) and background
services (started in the server's task group). Hypercorn has no anyio entry
point and cannot report where it bound, so the listening socket is bound here
and handed over as ``fd://N``; it always gets a shutdown trigger and is never
cancelled mid-request.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable

import anyio
import hypercorn.asyncio
import hypercorn.config
from quart import Quart

from anylambda.core.config import Config
from anylambda.core.runtime import Runtime

logger = logging.getLogger("anylambda")

#: The largest HTTP request accepted (AWS's CreateFunction limit, base64 zip included).
MAX_REQUEST_BYTES = 70_167_211


def create_app(runtime: Runtime) -> Quart:
    """A Quart app with every frontend's blueprints mounted."""
    app = Quart("anylambda")
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    for frontend in runtime.plugins.frontends().values():
        for blueprint in frontend.blueprints(runtime):
            app.register_blueprint(blueprint)
    return app


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


async def serve(
    config: Config,
    *,
    stop: anyio.Event,
    on_ready: Callable[[str], None] | None = None,
    plugins: Iterable[object] = (),
) -> None:
    """Run the server until ``stop`` is set, then shut down cleanly (instances included).

    ``plugins`` are registered besides the installed ones (e.g. a plugin under test).
    """
    async with Runtime(config, plugins=plugins) as runtime:
        app = create_app(runtime)
        sock = bind_socket(config.host, config.port)
        host, port = sock.getsockname()[:2]
        http = hypercorn.config.Config()
        http.bind = [f"fd://{os.dup(sock.fileno())}"]
        http.graceful_timeout = config.shutdown_grace
        http.errorlog = logging.getLogger("hypercorn.error")
        sock.close()
        async with anyio.create_task_group() as tg:
            for frontend in runtime.plugins.frontends().values():
                for service in frontend.services(runtime):
                    await tg.start(service, runtime)
            tg.start_soon(_serve_http, app, http, stop)
            url = f"http://{host}:{port}"
            logger.info("backend: %s, data: %s", config.backend, config.data_dir)
            if on_ready is not None:
                on_ready(url)
            await stop.wait()
            runtime.begin_shutdown()  # in-flight requests get their answer while Hypercorn drains
            tg.cancel_scope.cancel()


async def _serve_http(app: Quart, http: hypercorn.config.Config, stop: anyio.Event) -> None:
    # Shielded: Hypercorn must finish its own graceful shutdown (hypercorn#184).
    with anyio.CancelScope(shield=True):
        await hypercorn.asyncio.serve(app, http, shutdown_trigger=stop.wait)
