"""The Docker engine over the ``docker`` SDK's low-level client.

Imported only when the docker backend connects: the SDK is optional
(``pip install 'anylambda[docker]'``). Every method blocks; the backend calls
them through :meth:`~anylambda.backends.container.engine.Engine.run`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from anylambda.backends.container import engine as base
from anylambda.backends.docker.spec import docker_args
from anylambda.core.errors import BackendError

if TYPE_CHECKING:
    from docker import APIClient

    from anylambda.backends.container.spec import RunSpec

DEFAULT_URL = "unix:///var/run/docker.sock"


class DockerEngine(base.Engine):
    """One connection to a Docker engine."""

    title = "Docker engine"
    backend = "docker"
    env_var = "DOCKER_HOST"
    default_url = DEFAULT_URL
    start_hint = "dockerd &"
    build_hint = "docker build -t ..."

    _api: APIClient | None = None

    @property
    def api(self) -> APIClient:
        """The SDK's low-level client; only valid after :meth:`connect`."""
        if self._api is None:
            raise BackendError("The docker backend is not connected to an engine yet.")
        return self._api

    def sdk_errors(self) -> base.SdkErrors:
        """Import the SDK; its exceptions."""
        from docker import errors
        from requests import RequestException

        return base.SdkErrors(
            not_found=(errors.NotFound,),
            api=(errors.APIError,),
            transport=(errors.DockerException, RequestException),
        )

    def open(self) -> None:
        """Create the client, agreeing on an API version with the engine."""
        import docker

        self._api = docker.APIClient(
            base_url=self.url,
            version="auto",
            timeout=base.REQUEST_TIMEOUT,
            max_pool_size=base.CONCURRENT_CALLS,
        )

    def close(self) -> None:
        """Close the client's connections."""
        if self._api is not None:
            api, self._api = self._api, None
            api.close()

    def list_containers(self, filters: Mapping[str, list[str]]) -> list[str]:
        """Ids of the containers ``filters`` select, running or not."""
        return [c["Id"] for c in self.api.containers(all=True, filters=dict(filters))]

    def remove(self, container_id: str) -> None:
        """``docker rm -f``."""
        self.api.remove_container(container_id, force=True)

    def inspect_image(self, image: str) -> Mapping[str, Any]:
        """``docker image inspect``."""
        return self.api.inspect_image(image)

    def pull_image(self, image: str, deadline: float) -> None:
        """``docker pull``, following its progress to the end."""
        for message in self.api.pull(image, stream=True, decode=True):
            base.check_pull_message(self.title, image, message, deadline)

    def inspect_network(self, name: str) -> Mapping[str, Any]:
        """``docker network inspect``."""
        return self.api.inspect_network(name)

    def create_internal_network(self, name: str, labels: Mapping[str, str]) -> None:
        """``docker network create --internal``."""
        self.api.create_network(name, driver="bridge", internal=True, labels=dict(labels))

    def create(self, run: RunSpec) -> str:
        """``docker create``."""
        args = docker_args(run)
        host_config = self.api.create_host_config(**args.host)
        created = self.api.create_container(
            host_config=host_config, use_config_proxy=False, **args.create
        )
        return created["Id"]

    def attach(self, container_id: str) -> base.Attached:
        """The attach socket (a ``SocketIO`` over the engine connection)."""
        stream = self.api.attach_socket(
            container_id, params={"stdout": 1, "stderr": 1, "stream": 1}
        )
        try:
            return base.Attached(stream, base.raw_socket(stream, self.backend))
        except BackendError:
            stream.close()
            raise

    def start(self, container_id: str) -> None:
        """``docker start``."""
        self.api.start(container_id)

    def exit_state(self, container_id: str) -> Mapping[str, Any]:
        """``docker wait``, then the container's ``State``."""
        self.api.wait(container_id)
        return self.api.inspect_container(container_id).get("State") or {}

    def pause(self, container_id: str) -> None:
        """``docker pause``."""
        self.api.pause(container_id)

    def unpause(self, container_id: str) -> None:
        """``docker unpause``."""
        self.api.unpause(container_id)

    def blames_the_function(self, exc: Exception) -> bool:
        """A missing image, or an entrypoint the runtime cannot execute (the engine says 400)."""
        from docker import errors

        if isinstance(exc, errors.ImageNotFound):
            return True
        return isinstance(exc, errors.APIError) and exc.status_code == 400
