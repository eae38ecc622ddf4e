"""A container engine as the event loop sees it: SDK calls in worker threads, errors mapped.

Each container backend implements :class:`Engine` over its SDK (``docker``,
``podman``). The SDKs are blocking and optional: one is imported when its
backend connects, never at plugin import, so a server that runs another
backend never needs it. Every call runs in a worker thread under the engine's
own :class:`~anyio.CapacityLimiter` (anyio's default limiter is shared by the
whole server), and every SDK or transport error leaves :meth:`Engine.run` as a
:class:`~anylambda.core.errors.BackendError`.

The abstract methods are blocking: call them through :meth:`Engine.run`.
"""

from __future__ import annotations

import abc
import functools
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, NamedTuple, ParamSpec, TypeVar

import anyio
import attrs

from anylambda.backends.container.spec import RunSpec
from anylambda.core.errors import BackendError, ConfigurationError

T = TypeVar("T")
P = ParamSpec("P")

#: Most SDK calls in flight at once (each holds a worker thread and a connection).
CONCURRENT_CALLS = 16
#: Seconds any one API request may take.
REQUEST_TIMEOUT = 30.0
#: Seconds a blocking pull goes on past its caller's deadline (so the caller's fires first).
PULL_SLACK = 1.0


class NotFoundError(BackendError):
    """The engine does not know the container, image or network (HTTP 404)."""


class ConflictError(BackendError):
    """The engine refused because of the object's state (HTTP 409), e.g. a removal in progress."""


@attrs.frozen
class SdkErrors:
    """An SDK's exception classes, sorted by what they mean here."""

    not_found: tuple[type[BaseException], ...]
    """Missing container, image or network."""
    api: tuple[type[BaseException], ...]
    """The engine answered with an error (has ``status_code`` and ``explanation``)."""
    transport: tuple[type[BaseException], ...]
    """The engine could not be reached or spoke nonsense."""


#: Before the SDK is imported only ``OSError`` (the socket probe) can be mapped.
NO_SDK_ERRORS = SdkErrors(not_found=(), api=(), transport=())


class Attached(NamedTuple):
    """A container's attach stream: the SDK's object (to close) and the OS socket under it."""

    stream: Any
    sock: socket.socket


class Engine(abc.ABC):
    """One connection to a container engine."""

    #: How messages name the engine, e.g. ``Docker engine``.
    title: ClassVar[str]
    #: The backend it serves: also its plugin's, its SDK's and its extra's name.
    backend: ClassVar[str]
    #: The environment variable that names the engine's socket, and the default socket.
    env_var: ClassVar[str]
    default_url: ClassVar[str]
    #: How to start the engine, for the startup error.
    start_hint: ClassVar[str]
    #: How to put an image on the engine, for the missing-image error.
    build_hint: ClassVar[str]
    #: Whether the engine's ``State.OOMKilled`` can be trusted.
    reports_oom: ClassVar[bool] = True

    def __init__(self, base_url: str | None = None) -> None:
        #: Where the engine listens, as users write it (``unix:///var/run/docker.sock``).
        self.url = base_url or os.environ.get(self.env_var) or self.default_url
        self.limiter = anyio.CapacityLimiter(CONCURRENT_CALLS)
        self._errors: SdkErrors | None = None
        self._connected = False

    async def connect(self) -> None:
        """Reach the engine; a clear startup error naming the socket if it is absent."""
        try:
            await anyio.to_thread.run_sync(self._connect, limiter=self.limiter)
        except ImportError as exc:
            raise ConfigurationError(
                f"The {self.backend} backend needs the {self.backend} SDK: "
                f"pip install 'anylambda[{self.backend}]'"
            ) from exc
        except BackendError as exc:
            raise ConfigurationError(
                f"Cannot reach the {self.title} at {self.url} ({exc.__cause__}). Start it "
                f"(e.g. `{self.start_hint}`), or point {self.env_var} or "
                f"[plugins.{self.backend}] base_url at it."
            ) from exc

    def _connect(self) -> None:
        self._errors = self.sdk_errors()
        with self.mapped_errors():
            probe(self.url)
            self.open()
        self._connected = True

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` in a worker thread; its errors become ``BackendError``."""
        return await anyio.to_thread.run_sync(
            functools.partial(self._mapped, functools.partial(fn, *args, **kwargs)),
            limiter=self.limiter,
        )

    async def pull(self, image: str) -> None:
        """Pull ``image`` from its registry (``BackendError`` if that fails), bounded by the
        caller's cancel scope: cancelled, it returns at once, and the blocking pull stops by
        itself just after the scope's deadline (or when the engine ends it)."""
        left = anyio.current_effective_deadline() - anyio.current_time()
        deadline = time.monotonic() + left + PULL_SLACK
        call = functools.partial(self._mapped, functools.partial(self.pull_image, image, deadline))
        await anyio.to_thread.run_sync(call, limiter=self.limiter, abandon_on_cancel=True)

    def _mapped(self, fn: Callable[[], T]) -> T:
        with self.mapped_errors():
            return fn()

    @contextmanager
    def mapped_errors(self) -> Iterator[None]:
        """Turn the SDK's and the transport's exceptions into ``BackendError`` subclasses."""
        try:
            yield
        except BackendError:
            raise
        except Exception as exc:
            mapped = self._map(exc)
            if mapped is None:
                raise
            raise mapped from exc

    def _map(self, exc: Exception) -> BackendError | None:
        errors = self._errors or NO_SDK_ERRORS
        if isinstance(exc, errors.not_found):
            return NotFoundError(explain(exc))
        if isinstance(exc, errors.api):
            if getattr(exc, "status_code", None) == 409:
                return ConflictError(explain(exc))
            return BackendError(f"{self.title} error: {explain(exc)}")
        if isinstance(exc, (*errors.transport, OSError)):
            return BackendError(f"{self.title} at {self.url} failed: {exc}")
        return None

    async def aclose(self) -> None:
        """Close the client's connections."""
        if self._connected:
            self._connected = False
            await anyio.to_thread.run_sync(self.close, limiter=self.limiter)

    # --- what each SDK implements (blocking) --------------------------------------------------

    @abc.abstractmethod
    def sdk_errors(self) -> SdkErrors:
        """Import the SDK (``ImportError`` if it is missing); its exception classes."""

    @abc.abstractmethod
    def open(self) -> None:
        """Create the SDK's client and check that the engine answers."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the SDK's client."""

    @abc.abstractmethod
    def list_containers(self, filters: Mapping[str, list[str]]) -> list[str]:
        """The ids of every container (running or not) that ``filters`` select."""

    @abc.abstractmethod
    def remove(self, container_id: str) -> None:
        """Kill and remove a container, at once."""

    @abc.abstractmethod
    def inspect_image(self, image: str) -> Mapping[str, Any]:
        """An image's inspect document (``NotFoundError`` if it is not on the engine)."""

    @abc.abstractmethod
    def pull_image(self, image: str, deadline: float) -> None:
        """Pull ``image`` from its registry; give up (``BackendError``) at ``deadline``
        (``time.monotonic()``)."""

    @abc.abstractmethod
    def inspect_network(self, name: str) -> Mapping[str, Any]:
        """A network's inspect document, in Docker's format."""

    @abc.abstractmethod
    def create_internal_network(self, name: str, labels: Mapping[str, str]) -> None:
        """Create a bridge network that routes nowhere beyond this host."""

    @abc.abstractmethod
    def create(self, run: RunSpec) -> str:
        """Create (not start) a container; its id."""

    @abc.abstractmethod
    def attach(self, container_id: str) -> Attached:
        """Attach to a created container's stdout and stderr (multiplexed frames)."""

    @abc.abstractmethod
    def start(self, container_id: str) -> None:
        """Start a created container."""

    @abc.abstractmethod
    def exit_state(self, container_id: str) -> Mapping[str, Any]:
        """Wait for a container to exit; its inspected ``State``."""

    @abc.abstractmethod
    def pause(self, container_id: str) -> None:
        """Freeze a container's processes."""

    @abc.abstractmethod
    def unpause(self, container_id: str) -> None:
        """Thaw a paused container."""

    @abc.abstractmethod
    def blames_the_function(self, exc: Exception) -> bool:
        """Whether a failed create, attach or start is the function's fault (bad entrypoint)."""


def probe(url: str) -> None:
    """Connect to a unix socket once (``OSError`` if nothing listens), closing it properly.

    A missing engine then fails here rather than inside an SDK, which may leak the
    socket of a connection that failed (a ``ResourceWarning``).
    """
    if not url.startswith("unix://"):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(REQUEST_TIMEOUT)
        sock.connect(url.removeprefix("unix://"))


def raw_socket(stream: Any, backend: str) -> socket.socket:
    """The OS socket under an SDK's attach stream (a socket, or an object wrapping one)."""
    sock = stream if isinstance(stream, socket.socket) else getattr(stream, "_sock", None)
    if not isinstance(sock, socket.socket):
        raise BackendError(
            f"Cannot read the container's output from a {type(stream).__name__}: the {backend} "
            "backend needs an engine on a unix socket or plain TCP on this host."
        )
    return sock


def check_pull_message(
    engine: str, image: str, message: Mapping[str, Any], deadline: float
) -> None:
    """Fail a pull whose progress ``message`` is an error, or that is past its ``deadline``."""
    error = message.get("error")
    if error:
        raise BackendError(f"The {engine} could not pull {image}: {str(error).strip()}")
    if time.monotonic() > deadline:
        raise BackendError(f"The {engine} was still pulling {image} at its deadline.")


def explain(exc: Any) -> str:
    """The engine's own message (``explanation``), else the exception's text."""
    return str(getattr(exc, "explanation", None) or exc)
