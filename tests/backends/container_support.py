"""Helpers for the container backends' tests: handlers, invoking, looking at containers."""

from __future__ import annotations

import importlib
import json
import os
import time
from pathlib import Path
from typing import Any

from anylambda.backends.container.engine import Engine, probe
from anylambda.backends.container.labels import INSTANCE_LABEL, managed_filter, server_id
from tests.support import ROLE, make_zip

PYTHON_IMAGE = "public.ecr.aws/lambda/python:3.11"
RUNTIME = "python3.11"

HANDLERS = """
import errno, os, socket, sys, time

def whoami(event, context):
    return {"host": socket.gethostname(), "uid": os.getuid(), "gid": os.getgid()}

def sleep(event, context):
    time.sleep(event["seconds"])
    return {"host": socket.gethostname()}

def fail(event, context):
    raise ValueError("boom")

def exit_now(event, context):
    sys.stdout.flush()
    os._exit(event.get("code", 3))

def chatty(event, context):
    print("hello from the handler")
    print("to stderr", file=sys.stderr)
    return "ok"

def environment(event, context):
    return dict(os.environ)

def write(event, context):
    try:
        with open(event["path"], "w") as fh:
            fh.write("x")
    except OSError as exc:
        return errno.errorcode[exc.errno]
    return "written"

def fill_tmp(event, context):
    written, chunk = 0, b"x" * (1 << 20)
    try:
        with open("/tmp/fill", "wb") as fh:
            while written < event["limit_mb"] << 20:
                fh.write(chunk)
                fh.flush()
                written += len(chunk)
    except OSError as exc:
        return {"written_mb": written >> 20, "error": errno.errorcode[exc.errno]}
    finally:
        if os.path.exists("/tmp/fill"):
            os.remove("/tmp/fill")
    return {"written_mb": written >> 20, "error": None}

def allocate(event, context):
    blocks = [b"x" * (1 << 20) + str(i).encode() for i in range(event["mb"])]
    return len(blocks)

def isolation(event, context):
    status = dict(
        line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line
    )
    routes = open("/proc/net/route").read().splitlines()[1:]
    return {
        "cap_eff": status["CapEff"].strip(),
        "no_new_privs": status["NoNewPrivs"].strip(),
        "docker_socket": os.path.exists("/var/run/docker.sock"),
        "default_route": any(line.split()[1] == "00000000" for line in routes),
    }

def run_from_tmp(event, context):
    import shutil, subprocess
    shutil.copy("/bin/echo", "/tmp/echo-copy")
    os.chmod("/tmp/echo-copy", 0o755)
    return subprocess.run(["/tmp/echo-copy", "ran"], capture_output=True, text=True).stdout
"""
CODE = make_zip({"handlers.py": HANDLERS})


#: The container backends the tests run on, each needing its engine and the Python image.
ENGINES = ("docker", "podman")
#: Seconds a test waits for an engine to finish removing something.
GONE_TIMEOUT = 15.0


def engine_missing(backend: str) -> str | None:
    """Why the tests of ``backend`` cannot run here, or ``None`` if they can."""
    engine_type = _engine_type(backend)
    try:
        importlib.import_module(backend)
    except ImportError:
        return f"the {backend} SDK is not installed (pip install -e '.[test]')"
    url = os.environ.get(engine_type.env_var) or engine_type.default_url
    try:
        probe(url)
    except OSError as exc:
        return f"no {engine_type.title} at {url} ({exc}): start it with `{engine_type.start_hint}`"
    client = EngineClient(backend)
    try:
        if not client.has_image(PYTHON_IMAGE):
            return (
                f"the image {PYTHON_IMAGE} is not on the {engine_type.title}: "
                f"run `anylambda images build --engine {backend}`"
            )
    except Exception as exc:
        return f"the {engine_type.title} at {url} failed: {exc}"
    finally:
        client.close()
    return None


def _engine_type(backend: str) -> type[Engine]:
    if backend == "docker":
        from anylambda.backends.docker.engine import DockerEngine

        return DockerEngine
    from anylambda.backends.podman.engine import PodmanEngine

    return PodmanEngine


class EngineClient:
    """What the tests look at on an engine, through its SDK's high-level client.

    The two SDKs mirror each other; this irons out where they do not (filters,
    errors, the network document).
    """

    def __init__(self, backend: str) -> None:
        self.backend = backend
        if backend == "docker":
            import docker

            self.client: Any = docker.from_env(timeout=60)
            self._not_found: tuple[type[Exception], ...] = (docker.errors.NotFound,)
        else:
            import podman

            url = os.environ.get("CONTAINER_HOST") or _engine_type(backend).default_url
            self.client = podman.PodmanClient(base_url=url, timeout=60)
            self._not_found = (podman.errors.NotFound, podman.errors.ImageNotFound)

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    def has_image(self, image: str) -> bool:
        """Whether the image is on the engine."""
        try:
            self.client.images.get(image)
        except self._not_found:
            return False
        return True

    def containers(self, **filters: str | list[str]) -> list[str]:
        """Ids of every container (running or not) the filters select."""
        if self.backend == "podman":  # its SDK takes a list of "key=value"
            pairs = [(k, v) for k, vs in filters.items() for v in _listed(vs)]
            found = self.client.containers.list(all=True, filters=[f"{k}={v}" for k, v in pairs])
        else:
            found = self.client.containers.list(all=True, filters=filters, sparse=True)
        return [c.id for c in found]

    def server_containers(self, data_dir: Path) -> list[str]:
        """Every container a server with this data directory created (the anchor too)."""
        return self.containers(**managed_filter(server_id(data_dir)))

    def instances(self, data_dir: Path) -> list[str]:
        """The instances' containers among them."""
        labels = [*managed_filter(server_id(data_dir))["label"], INSTANCE_LABEL]
        return self.containers(label=labels)

    def kill(self, container_id: str) -> None:
        """SIGKILL a container's process (as ``docker kill`` does)."""
        self.client.containers.get(container_id).kill(signal="KILL")

    def reaches(self, container_id: str, status: str, timeout: float = GONE_TIMEOUT) -> bool:
        """Wait until the container's status is ``status`` (``running``, ``paused``...)."""
        deadline = time.monotonic() + timeout
        while self.client.containers.get(container_id).status != status:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def gone(self, container_id: str, timeout: float = GONE_TIMEOUT) -> bool:
        """Wait until the engine no longer knows the container."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.client.containers.get(container_id)
            except self._not_found:
                return True
            time.sleep(0.1)
        return False

    def build(self, directory: Path, tag: str) -> str:
        """Build the image in ``directory`` with this engine; its id."""
        extra = {"layers": False} if self.backend == "podman" else {}
        image, _ = self.client.images.build(
            path=str(directory), dockerfile="Dockerfile", tag=tag, rm=True, **extra
        )
        return image.id

    def remove_image(self, image_id: str) -> None:
        """Remove an image once no container uses it any more (they go asynchronously)."""
        # Removing it while a container exists would only untag it, leaving it dangling.
        deadline = time.monotonic() + GONE_TIMEOUT
        while time.monotonic() < deadline and self._in_use(image_id):
            time.sleep(0.1)
        self.client.images.remove(image_id, force=True)

    def _in_use(self, image_id: str) -> bool:
        try:
            return bool(self.containers(ancestor=image_id))
        except Exception:  # a container removed while the engine lists it: look again
            return True

    def network(self, name: str) -> tuple[bool, str]:
        """Whether the network is internal, and its gateway."""
        attrs = self.client.networks.get(name).attrs
        if self.backend == "podman":
            return attrs["internal"], attrs["subnets"][0]["gateway"]
        return attrs["Internal"], attrs["IPAM"]["Config"][0]["Gateway"]


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def create_python(client: Any, name: str, handler: str) -> None:
    """Create a function running one of ``HANDLERS``."""
    client.create_function(
        FunctionName=name,
        Runtime=RUNTIME,
        Handler=f"handlers.{handler}",
        Role=ROLE,
        Code={"ZipFile": CODE},
    )


def invoke(client: Any, name: str, payload: object = None, **kw: Any) -> dict[str, Any]:
    """Invoke synchronously; the response with its payload read into ``Body``."""
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode(), **kw)
    response["Body"] = response["Payload"].read()
    return response
