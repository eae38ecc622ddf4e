"""The Docker engine as the event loop sees it: SDK calls in worker threads, errors mapped.

The ``docker`` SDK is blocking and optional: it is imported when a backend
connects, never at plugin import, so the process backend never needs it.
Every call runs in a worker thread under the engine's own
:class:`~anyio.CapacityLimiter` (anyio's default limiter is shared by the
whole server), and every SDK or transport error leaves :meth:`Engine.call` as a
:class:`~anylambda.core.errors.BackendError`.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from anylambda.core.errors import BackendError, ConfigurationError

if TYPE_CHECKING:
    from docker import APIClient

T = TypeVar("T")

DEFAULT_URL = "unix:///var/run/docker.sock"
#: Most SDK calls in flight at once (each holds a worker thread and a connection).
CONCURRENT_CALLS = 16
#: Seconds any one API request may take.
REQUEST_TIMEOUT = 30.0


class NotFoundError(BackendError):
    """The engine does not know the container, image or network (HTTP 404)."""


class ConflictError(BackendError):
    """The engine refused because of the object's state (HTTP 409), e.g. a removal in progress."""


class Engine:
    """One connection to a Docker engine."""

    def __init__(self, base_url: str | None = None) -> None:
        #: Where the engine listens, as users write it (``unix:///var/run/docker.sock``).
        self.url = base_url or os.environ.get("DOCKER_HOST") or DEFAULT_URL
        self.limiter = anyio.CapacityLimiter(CONCURRENT_CALLS)
        self._api: APIClient | None = None

    @property
    def api(self) -> APIClient:
        """The SDK's low-level client; only valid after :meth:`connect`."""
        if self._api is None:
            raise BackendError("The Docker backend is not connected to an engine yet.")
        return self._api

    async def connect(self) -> None:
        """Reach the engine and agree on an API version; a clear startup error if it is absent."""
        try:
            import docker
        except ImportError as exc:
            raise ConfigurationError(
                "The docker backend needs the docker SDK: pip install 'anylambda[docker]'"
            ) from exc

        def connect() -> APIClient:
            probe(self.url)
            return docker.APIClient(
                base_url=self.url,
                version="auto",
                timeout=REQUEST_TIMEOUT,
                max_pool_size=CONCURRENT_CALLS,
            )

        try:
            self._api = await anyio.to_thread.run_sync(
                functools.partial(self._mapped, connect), limiter=self.limiter
            )
        except BackendError as exc:
            raise ConfigurationError(
                f"Cannot reach the Docker engine at {self.url} ({exc.__cause__}). Start it "
                "(e.g. `dockerd &`), or point DOCKER_HOST or [plugins.docker] base_url at it."
            ) from exc

    async def call(self, fn: Callable[[APIClient], T]) -> T:
        """Run ``fn(api)`` in a worker thread; its errors become ``BackendError``."""
        return await anyio.to_thread.run_sync(
            functools.partial(self._mapped, lambda: fn(self.api)), limiter=self.limiter
        )

    def _mapped(self, fn: Callable[[], T]) -> T:
        with self.mapped_errors():
            return fn()

    @contextmanager
    def mapped_errors(self) -> Iterator[None]:
        """Turn the SDK's and the transport's exceptions into ``BackendError`` subclasses."""
        from docker import errors
        from requests import RequestException

        try:
            yield
        except errors.NotFound as exc:
            raise NotFoundError(_explain(exc)) from exc
        except errors.APIError as exc:
            if exc.status_code == 409:
                raise ConflictError(_explain(exc)) from exc
            raise BackendError(f"Docker engine error: {_explain(exc)}") from exc
        except (errors.DockerException, RequestException, OSError) as exc:
            raise BackendError(f"Docker engine at {self.url} failed: {exc}") from exc

    async def aclose(self) -> None:
        """Close the client's connections."""
        if self._api is not None:
            api, self._api = self._api, None
            await anyio.to_thread.run_sync(api.close, limiter=self.limiter)


def probe(url: str) -> None:
    """Connect to a unix socket once (``OSError`` if nothing listens), closing it properly.

    A missing engine then fails here rather than inside the SDK, which leaks the
    socket of a connection that failed (a ``ResourceWarning``).
    """
    if not url.startswith("unix://"):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(REQUEST_TIMEOUT)
        probe.connect(url.removeprefix("unix://"))


def _explain(exc: Any) -> str:
    """The engine's own message (``explanation``), else the exception's text."""
    return str(getattr(exc, "explanation", None) or exc)
