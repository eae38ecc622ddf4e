"""An engine stand-in for the container backends' unit tests: images, pulls and removals in
memory, under the test's control (no registry is reachable here, and an engine that is
away is hard to have on demand)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from anylambda.backends.container import engine as base
from anylambda.core.errors import BackendError


class StandInEngine(base.Engine):
    """An engine whose images, pulls and removals are in memory, under the test's control."""

    title = "stand-in engine"
    backend = "standin"
    env_var = "STANDIN_HOST"
    default_url = "unix:///nowhere"
    start_hint = build_hint = "nothing"

    def __init__(self, base_url: str | None = None) -> None:
        super().__init__(base_url)
        self.images: set[str] = set()
        self.release = threading.Event()
        """Set to let pulls end."""
        self.pull_error: str | None = None
        """What ending pulls report as the registry's error."""
        self.pull_ended = threading.Event()
        self.containers: set[str] = set()
        self.reachable = True
        """While false, every removal fails as with an engine that is away."""

    def pull_image(self, image: str, deadline: float) -> None:
        try:
            while not self.release.wait(0.01):
                base.check_pull_message(self.title, image, {}, deadline)
            base.check_pull_message(self.title, image, {"error": self.pull_error}, deadline)
            self.images.add(image)
        finally:
            self.pull_ended.set()

    def inspect_image(self, image: str) -> Mapping[str, Any]:
        if image not in self.images:
            raise base.NotFoundError(f"No such image: {image}")
        return {"Config": {"Entrypoint": ["/lambda-entrypoint.sh"], "Cmd": ["app.handler"]}}

    def remove(self, container_id: str) -> None:
        if not self.reachable:
            raise BackendError(f"{self.title} at {self.url} failed: connection refused")
        if container_id not in self.containers:
            raise base.NotFoundError(f"No such container: {container_id}")
        self.containers.remove(container_id)

    def sdk_errors(self) -> base.SdkErrors:
        return base.NO_SDK_ERRORS

    def _unused(self, *args: object) -> Any:
        raise AssertionError("not used by these tests")

    open = close = list_containers = inspect_network = _unused
    create_internal_network = create = attach = start = exit_state = _unused
    pause = unpause = blames_the_function = _unused
