"""The server: a :class:`~anylambda.Runtime` plus every frontend, on one HTTP listener.

Frontends contribute Quart blueprints (mounted on one app, served by
:mod:`anylambda.http_server`) and background services (started in the
server's task group). At shutdown the listener stops accepting and the
requests in progress get their answers (within ``shutdown_grace``) before the
runtime stops its instances.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable

import anyio
from quart import Quart

from anylambda.core.config import Config
from anylambda.core.runtime import Runtime
from anylambda.core.wire import listening_socket
from anylambda.http_server import serve_asgi

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
        with listening_socket(config.host, config.port) as sock:
            host, port = sock.getsockname()[:2]
            async with anyio.create_task_group() as tg:
                for frontend in runtime.plugins.frontends().values():
                    for service in frontend.services(runtime):
                        await tg.start(service, runtime)
                tg.start_soon(_serve_http, app, sock, stop, config.shutdown_grace)
                url = f"http://{host}:{port}"
                logger.info("backend: %s, data: %s", config.backend, config.data_dir)
                if on_ready is not None:
                    on_ready(url)
                await stop.wait()
                runtime.begin_shutdown()  # in-flight requests get answers while the server drains
                tg.cancel_scope.cancel()


async def _serve_http(app: Quart, sock: socket.socket, stop: anyio.Event, grace: float) -> None:
    # Shielded: the server drains itself (bounded by ``grace``) once ``stop`` is set.
    with anyio.CancelScope(shield=True):
        await serve_asgi(app, sock, stop=stop, grace=grace)
