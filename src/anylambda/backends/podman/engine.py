"""The Podman service (``podman system service``) over the ``podman`` SDK.

Imported only when the podman backend connects: the SDK is optional
(``pip install 'anylambda[podman]'``). Containers are created from a libpod
``SpecGenerator`` (:func:`~anylambda.backends.podman.spec.libpod_spec`) and
attached to through the API directly, which the SDK does not implement; the
SDK's client still carries every request and raises its errors. Every method
blocks; the backend calls them through
:meth:`~anylambda.backends.container.engine.Engine.run`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from anylambda.backends.container import engine as base
from anylambda.backends.podman.spec import libpod_spec
from anylambda.core.errors import BackendError

if TYPE_CHECKING:
    from podman import PodmanClient
    from podman.api.client import APIClient

    from anylambda.backends.container.spec import RunSpec

DEFAULT_URL = "unix:///run/podman/podman.sock"
#: The OCI runtime could not execute the entrypoint: the image's fault, not the engine's.
BAD_ENTRYPOINT = re.compile(
    r"OCI runtime attempted to invoke a command that was not found"
    r'|exec: "[^"]*": (?:permission denied|is a directory)'
    r"|executable file not found"
)
JSON = {"Content-Type": "application/json"}


class PodmanEngine(base.Engine):
    """One connection to a Podman service."""

    title = "Podman service"
    backend = "podman"
    env_var = "CONTAINER_HOST"
    default_url = DEFAULT_URL
    start_hint = f"podman system service --time=0 {DEFAULT_URL} &"
    build_hint = "podman build -t ..."
    # conmon does not always record an out-of-memory kill (never, with cgroup v1 here).
    reports_oom = False

    _client: PodmanClient | None = None

    @property
    def api(self) -> APIClient:
        """The SDK's HTTP client; only valid after :meth:`connect`."""
        if self._client is None:
            raise BackendError("The podman backend is not connected to a service yet.")
        return self._client.api

    def sdk_errors(self) -> base.SdkErrors:
        """Import the SDK; its exceptions."""
        from podman import errors
        from requests import RequestException

        return base.SdkErrors(
            not_found=(errors.NotFound, errors.ImageNotFound),
            api=(errors.APIError,),
            transport=(errors.PodmanError, RequestException),
        )

    def open(self) -> None:
        """Create the client and ask the service for its version (it must answer)."""
        from podman import PodmanClient

        client = PodmanClient(
            base_url=self.url, timeout=base.REQUEST_TIMEOUT, max_pool_size=base.CONCURRENT_CALLS
        )
        try:
            client.version()
        except BaseException:
            client.close()
            raise
        self._client = client

    def close(self) -> None:
        """Close the client's connections."""
        if self._client is not None:
            client, self._client = self._client, None
            client.close()

    def list_containers(self, filters: Mapping[str, list[str]]) -> list[str]:
        """Ids of the containers ``filters`` select, running or not."""
        response = self.api.get(
            "/containers/json", params={"all": True, "filters": json.dumps(dict(filters))}
        )
        response.raise_for_status()
        return [c["Id"] for c in response.json()]

    def remove(self, container_id: str) -> None:
        """``podman rm -f -t 0``: PID 1 of a container ignores SIGTERM, so do not send one."""
        response = self.api.delete(
            f"/containers/{container_id}", params={"force": True, "timeout": 0}
        )
        response.raise_for_status()

    def inspect_image(self, image: str) -> Mapping[str, Any]:
        """``podman image inspect``."""
        assert self._client is not None
        return self._client.images.get(image).attrs

    def pull_image(self, image: str, deadline: float) -> None:
        """``podman pull``, following its progress to the end (each read may take until the
        deadline: Podman reports little while it copies a layer)."""
        response = self.api.post(
            "/images/pull",
            params={"reference": image},
            stream=True,
            timeout=(base.REQUEST_TIMEOUT, max(deadline - time.monotonic(), 1.0)),
        )
        try:
            response.raise_for_status()
            for line in response.iter_lines():
                if line:
                    base.check_pull_message(self.title, image, json.loads(line), deadline)
        finally:
            response.close()

    def inspect_network(self, name: str) -> Mapping[str, Any]:
        """The network in Docker's format (the compatible API knows ``bridge``, the default)."""
        response = self.api.get(f"/networks/{name}", compatible=True)
        response.raise_for_status()
        return response.json()

    def create_internal_network(self, name: str, labels: Mapping[str, str]) -> None:
        """``podman network create --internal``, with its DNS server.

        Podman gives an internal network a gateway (an address of the host on its
        bridge, where the Runtime APIs listen) only when its DNS server is on.
        """
        assert self._client is not None
        self._client.networks.create(
            name, driver="bridge", internal=True, dns_enabled=True, labels=dict(labels)
        )

    def create(self, run: RunSpec) -> str:
        """Create the container ``run`` describes."""
        return self.create_from_spec(libpod_spec(run))

    def create_from_spec(self, spec: Mapping[str, Any]) -> str:
        """``POST /containers/create`` with a libpod ``SpecGenerator``; the new container's id."""
        from podman.errors import ImageNotFound

        response = self.api.post("/containers/create", data=json.dumps(spec), headers=JSON)
        response.raise_for_status(not_found=ImageNotFound)
        return response.json()["Id"]

    def init(self, container_id: str) -> None:
        """``podman init``: set the container up (namespaces, network) without running it."""
        response = self.api.post(f"/containers/{container_id}/init")
        response.raise_for_status()

    def inspect_container(self, container_id: str) -> Mapping[str, Any]:
        """``podman container inspect``."""
        response = self.api.get(f"/containers/{container_id}/json")
        response.raise_for_status()
        return response.json()

    def attach(self, container_id: str) -> base.Attached:
        """Attach before start; the service upgrades the HTTP connection to the raw stream.

        The stream to close is urllib3's response: closing it closes the connection
        without handing it back to the pool, as it is no HTTP connection any more.
        """
        response = self.api.post(
            f"/containers/{container_id}/attach",
            params={"stream": True, "stdout": True, "stderr": True, "logs": False},
            headers={"Connection": "Upgrade", "Upgrade": "tcp"},
            stream=True,
        )
        try:
            response.raise_for_status()
            sock = base.raw_socket(_connection_socket(response), self.backend)
        except BaseException:
            response.close()
            raise
        return base.Attached(response.raw, sock)

    def start(self, container_id: str) -> None:
        """``podman start``."""
        response = self.api.post(f"/containers/{container_id}/start")
        response.raise_for_status()

    def exit_state(self, container_id: str) -> Mapping[str, Any]:
        """``podman wait``, then the container's ``State``."""
        response = self.api.post(f"/containers/{container_id}/wait")
        response.raise_for_status()
        return self.inspect_container(container_id).get("State") or {}

    def pause(self, container_id: str) -> None:
        """``podman pause``."""
        self.api.post(f"/containers/{container_id}/pause").raise_for_status()

    def unpause(self, container_id: str) -> None:
        """``podman unpause``."""
        self.api.post(f"/containers/{container_id}/unpause").raise_for_status()

    def blames_the_function(self, exc: Exception) -> bool:
        """A missing image, or an entrypoint the OCI runtime cannot execute."""
        from podman import errors

        if isinstance(exc, errors.ImageNotFound):
            return True
        if not isinstance(exc, errors.APIError):
            return False
        cause = exc.args[0] if exc.args else ""
        return BAD_ENTRYPOINT.search(f"{exc.explanation} {cause}") is not None


def _connection_socket(response: Any) -> Any:
    """The socket under a streamed ``requests`` response (urllib3's connection's file object)."""
    try:
        return response.raw._fp.fp.raw._sock
    except AttributeError as exc:
        raise BackendError(
            "Cannot find the attach stream's socket in this version of requests/urllib3."
        ) from exc
