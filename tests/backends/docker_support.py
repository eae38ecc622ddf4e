"""Helpers for the container backends' tests: handlers, invoking, looking at containers."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from tests.support import make_zip

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
"""
CODE = make_zip({"handlers.py": HANDLERS})


def docker_missing() -> str | None:
    """Why the Docker tests cannot run here, or ``None`` if they can."""
    try:
        import docker
    except ImportError:
        return "the docker SDK is not installed (pip install -e '.[test]')"
    from anylambda.backends.docker.engine import DEFAULT_URL, probe

    url = os.environ.get("DOCKER_HOST") or DEFAULT_URL
    try:
        probe(url)
    except OSError as exc:
        return f"no Docker engine at {url}: {exc}"
    client = docker.from_env(timeout=10)
    try:
        client.images.get(PYTHON_IMAGE)
    except docker.errors.ImageNotFound:
        return f"the image {PYTHON_IMAGE} is missing: run `anylambda images build`"
    except docker.errors.DockerException as exc:
        return f"the Docker engine failed: {exc}"
    finally:
        client.close()
    return None


def invoke(client: Any, name: str, payload: object = None, **kw: Any) -> dict[str, Any]:
    """Invoke synchronously; the response with its payload read into ``Body``."""
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode(), **kw)
    response["Body"] = response["Payload"].read()
    return response


def container_gone(client: Any, container_id: str, timeout: float = 15.0) -> bool:
    """Wait until the engine no longer knows the container."""
    import docker

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.containers.get(container_id)
        except docker.errors.NotFound:
            return True
        time.sleep(0.1)
    return False


def server_containers(client: Any, data_dir: Path) -> list[Any]:
    """Every container (running or not) a server with this data directory created."""
    from anylambda.backends.docker.spec import managed_filter, server_id

    return client.containers.list(all=True, filters=managed_filter(server_id(data_dir)))
