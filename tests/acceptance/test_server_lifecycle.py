"""The server process itself: restarts, signals, stale instances, settings, hostile input.

Every test starts its own ``anylambda serve`` on a data directory of its own.
"""

from __future__ import annotations

import functools
import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from contextlib import suppress
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.support import (
    ROLE,
    lambda_client,
    make_zip,
    running_server,
    serve,
    wait_for,
)

HANDLERS = """
import os, time

def whoami(event, context):
    time.sleep(event.get("hold", 0))
    return {"pid": os.getpid()}

def sleeper(event, context):
    with open(event["pidfile"], "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(event["seconds"])
    return {"pid": os.getpid()}

def spawn(event, context):
    import subprocess
    child = subprocess.Popen(["sleep", "120"])
    return {"pid": os.getpid(), "child": child.pid}

def echo(event, context):
    return event
"""
CODE = make_zip({"handlers.py": HANDLERS})
NODE_CODE = make_zip({"index.js": "exports.handler = async () => ({ pid: process.pid });\n"})

#: A custom runtime that, like many, keeps retrying when the Runtime API is unreachable.
RETRYING_BOOTSTRAP = """#!/bin/bash
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  headers="$(mktemp)"
  if ! event="$(curl -sS -D "$headers" "$api/invocation/next" 2>/dev/null)"; then
    rm -f "$headers"
    sleep 0.2
    continue
  fi
  id="$(grep -Fi Lambda-Runtime-Aws-Request-Id "$headers" | tr -d '[:space:]' | cut -d: -f2)"
  rm -f "$headers"
  curl -sS "$api/invocation/$id/response" -d "{\\"pid\\": $$}" >/dev/null
done
"""

#: Seconds a signalled server may take to exit.
STOP_WITHIN = 10.0


# --- helpers -------------------------------------------------------------------------------


def create(client, name: str, handler: str = "handlers.whoami", code: bytes = CODE, **extra):
    params = {"Runtime": "python3.11", "Handler": handler, "Role": ROLE, **extra}
    return client.create_function(FunctionName=name, Code={"ZipFile": code}, **params)


def invoke(client, name: str, payload: object = None) -> dict:
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode())
    body = response["Payload"].read()
    assert "FunctionError" not in response, body
    return json.loads(body)


def process_state(pid: int) -> str | None:
    """The state letter of a process (``Z`` for a zombie), or ``None`` if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie is dead, whoever has yet to reap it)."""
    return process_state(pid) not in (None, "Z", "X")


def gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


def kill_group(pid: int) -> None:
    """Test cleanup: kill a process group that a failing test might leave behind."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def warm_pids(client) -> list[int]:
    """Warm up two Python instances of one function and a Node.js one; return their pids."""
    create(client, "py")
    create(client, "node", handler="index.handler", code=NODE_CODE, Runtime="nodejs20.x")
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(invoke(client, "py", {"hold": 0.5})["pid"]))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    results.append(invoke(client, "node")["pid"])
    assert len(set(results)) == 3
    assert all(alive(pid) for pid in results)
    return results


# --- restarts ------------------------------------------------------------------------------


def test_functions_survive_a_restart(data_dir):
    with running_server(data_dir) as srv:
        client = srv.client()
        create(
            client, "keeper", handler="handlers.echo", Environment={"Variables": {"GREETING": "hi"}}
        )
        assert invoke(client, "keeper", {"round": 1}) == {"round": 1}
        assert srv.stop(signal.SIGTERM) == 0
    with running_server(data_dir) as srv:
        client = srv.client()
        config = client.get_function(FunctionName="keeper")["Configuration"]
        assert config["Handler"] == "handlers.echo"
        assert config["Environment"] == {"Variables": {"GREETING": "hi"}}
        assert invoke(client, "keeper", {"round": 2}) == {"round": 2}
        names = [f["FunctionName"] for f in client.list_functions()["Functions"]]
        assert names == ["keeper"]


# --- signals -------------------------------------------------------------------------------


def test_sigterm_answers_in_flight_work_and_stops_every_instance(data_dir, tmp_path):
    log = tmp_path / "server.log"
    with running_server(data_dir, stderr=log) as srv:
        client = srv.client()
        pids = warm_pids(client)
        create(client, "busy", handler="handlers.sleeper", Timeout=60)
        pidfile = tmp_path / "busy.pid"
        outcome: list[object] = []

        def in_flight() -> None:
            try:
                outcome.append(
                    lambda_client(srv.url, read_timeout=25).invoke(
                        FunctionName="busy",
                        Payload=json.dumps({"pidfile": str(pidfile), "seconds": 30}).encode(),
                    )
                )
            except Exception as exc:
                outcome.append(exc)

        thread = threading.Thread(target=in_flight, daemon=True)
        thread.start()
        assert wait_for(lambda: pidfile.exists() and pidfile.read_text().strip())
        pids.append(int(pidfile.read_text()))

        started = time.monotonic()
        assert srv.stop(signal.SIGTERM, timeout=STOP_WITHIN + 5) == 0
        elapsed = time.monotonic() - started
        thread.join(timeout=10)
        assert not thread.is_alive(), "the in-flight invocation hangs"
    (result,) = outcome
    assert isinstance(result, ClientError), result
    assert result.response["Error"]["Code"] == "ServiceException"
    assert "shutting down" in str(result)
    assert elapsed < 3, f"took {elapsed:.1f} s to stop"
    for pid in pids:
        assert gone(pid, timeout=2), f"instance {pid} outlived the server"
    assert "Traceback" not in log.read_text()


def test_sigint_stops_the_server_and_its_instances(data_dir):
    with running_server(data_dir) as srv:
        pids = warm_pids(srv.client())
        started = time.monotonic()
        assert srv.stop(signal.SIGINT, timeout=STOP_WITHIN + 5) == 0
        assert time.monotonic() - started < STOP_WITHIN
        for pid in pids:
            assert gone(pid, timeout=2), f"instance {pid} outlived the server"
        assert not (data_dir / "instances").exists() or not list(
            (data_dir / "instances").glob("*.json")
        ), "a clean stop leaves no pid files"


def test_sigkill_leaves_instances_that_the_next_server_reaps(data_dir):
    code = make_zip({"bootstrap": RETRYING_BOOTSTRAP}, {"bootstrap": 0o755})
    with running_server(data_dir) as srv:
        client = srv.client()
        create(client, "custom", handler="x.y", code=code, Runtime="provided.al2023")
        pid = invoke(client, "custom")["pid"]
        try:
            srv.process.kill()
            srv.process.wait(timeout=10)
            time.sleep(0.5)
            assert alive(pid), "the instance outlives a killed server"
            with running_server(data_dir) as again:
                assert gone(pid, timeout=3), "the next server kills the stale instance"
                assert invoke(again.client(), "custom")["pid"] != pid
        finally:
            kill_group(pid)


def test_next_server_reaps_children_of_a_stale_instance_whose_runtime_exited(data_dir):
    with running_server(data_dir) as srv:
        client = srv.client()
        create(client, "spawner", handler="handlers.spawn")
        spawned = invoke(client, "spawner")
        try:
            srv.process.kill()
            srv.process.wait(timeout=10)
            # awslambdaric exits once its Runtime API is gone; the child it started stays.
            # Wait until the runtime is reaped too: a zombie still has its /proc entry.
            assert wait_for(lambda: process_state(spawned["pid"]) is None, timeout=10)
            assert alive(spawned["child"])
            with running_server(data_dir):
                assert gone(spawned["child"], timeout=3), "the stale instance's child survives"
        finally:
            kill_group(spawned["pid"])
            with suppress(ProcessLookupError):
                os.kill(spawned["child"], signal.SIGKILL)


# --- settings ------------------------------------------------------------------------------


def test_port_in_use_fails_with_a_clear_message(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [sys.executable, "-m", "anylambda.cli", "serve", "--port", str(port)]
        done = subprocess.run(
            [*argv, "--data-dir", str(tmp_path / "data")],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.returncode != 0
    assert "already in use" in done.stderr.lower()
    assert str(port) in done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "listening on" not in done.stdout


@pytest.mark.parametrize("source", ["config-file", "environment"])
def test_idle_timeout_setting_stops_idle_instances(data_dir, tmp_path, source):
    if source == "config-file":
        port = free_port()
        config = tmp_path / "anylambda.toml"
        config.write_text(f"port = {port}\nidle_timeout = 1\n")
        server = serve("--config", str(config), "--data-dir", str(data_dir), data_dir=data_dir)
    else:
        port = None
        server = running_server(data_dir, env={"ANYLAMBDA_IDLE_TIMEOUT": "1"})
    with server as srv:
        if port is not None:
            assert srv.url == f"http://127.0.0.1:{port}"
        client = srv.client()
        create(client, "idler")
        pid = invoke(client, "idler")["pid"]
        assert gone(pid, timeout=6), "the idle instance is stopped after idle_timeout"
        assert invoke(client, "idler")["pid"] != pid, "a cold start follows"


# --- hostile input -------------------------------------------------------------------------


@functools.cache
def zip_bomb() -> bytes:
    """A ~250 KB zip whose member unpacks to 1 byte over AWS's 262144000-byte limit."""
    buf = io.BytesIO()
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("handlers.py", HANDLERS)
        with zf.open("zeros.bin", "w") as out:
            for _ in range(250):
                out.write(chunk)
            out.write(bytes(262_144_001 - 250 * len(chunk)))
    return buf.getvalue()


def lying_zip_bomb() -> bytes:
    """The bomb with its member's declared size patched to 1000 bytes (local and central)."""
    data = bytearray(zip_bomb())
    index = data.index(b"zeros.bin")  # the local header's name: size is at name - 30 + 22
    struct.pack_into("<I", data, index - 30 + 22, 1000)
    central = data.rindex(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 1000)
    return bytes(data)


def symlink_escape_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        link = zipfile.ZipInfo("up")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "../../..")
        zf.writestr("up/pwned-link.txt", "owned")
        zf.writestr("handlers.py", HANDLERS)
    return buf.getvalue()


def raw_request(url: str, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
    request = urllib.request.Request(url + path, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_server_keeps_serving_after_hostile_input(data_dir, tmp_path):
    hostile_zips = {
        "malformed": b"PK\x03\x04 this is not a zip",
        "bomb": zip_bomb(),
        "lying-bomb": lying_zip_bomb(),
        "zip-slip": make_zip({"../../pwned.txt": "owned", "handlers.py": HANDLERS}),
        "zip-slip-deeper": make_zip({"../../../pwned-deeper.txt": "owned"}),
        "absolute": make_zip({str(tmp_path / "pwned-absolute.txt"): "owned"}),
        "symlink-escape": symlink_escape_zip(),
    }
    with running_server(data_dir) as srv:
        client = srv.client()
        create(client, "steady", handler="handlers.echo")
        for label, code in hostile_zips.items():
            with pytest.raises(ClientError) as exc:
                create(client, f"bad-{label}", code=code)
            error = exc.value.response
            assert error["Error"]["Code"] == "InvalidParameterValueException", (label, error)
            with pytest.raises(ClientError) as exc:
                client.update_function_code(FunctionName="steady", ZipFile=code)
            assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"

        with pytest.raises(ClientError) as exc:
            client.invoke(FunctionName="steady", Payload=b'"' + b"x" * (7 * 1024 * 1024) + b'"')
        assert exc.value.response["Error"]["Code"] == "RequestTooLargeException"

        status, _ = raw_request(srv.url, "POST", "/2015-03-31/functions", b'{"FunctionName": ')
        assert status == 400
        status, _ = raw_request(srv.url, "PUT", "/2015-03-31/functions/steady/code", b"\xff{")
        assert status == 400
        # Deeply nested JSON.
        deep = b"[" * 100_000 + b"]" * 100_000
        status, _ = raw_request(srv.url, "POST", "/2015-03-31/functions/steady/invocations", deep)
        assert status == 400

        assert invoke(client, "steady", {"still": "serving"}) == {"still": "serving"}
        assert srv.process.poll() is None
        assert [f["FunctionName"] for f in client.list_functions()["Functions"]] == ["steady"]
    assert list(tmp_path.rglob("pwned*")) == []
    assert not list(Path.cwd().glob("pwned*"))


@pytest.mark.parametrize(
    ("path", "method", "body"),
    [
        ("/2015-03-31/functions/steady/invocations", "POST", b"[" * 100_000 + b"]" * 100_000),
        ("/2015-03-31/functions/steady/invocations", "POST", b'{"n": ' + b"1" * 5000 + b"}"),
        ("/2015-03-31/functions", "POST", b"[" * 100_000 + b"]" * 100_000),
        ("/2015-03-31/functions/steady/configuration", "PUT", b'{"Timeout": ' + b"9" * 5000 + b"}"),
    ],
    ids=["invoke-deep", "invoke-huge-int", "create-deep", "update-huge-int"],
)
def test_unparsable_json_is_a_client_error_not_a_500(data_dir, path, method, body):
    with running_server(data_dir) as srv:
        create(srv.client(), "steady", handler="handlers.echo")
        status, answer = raw_request(srv.url, method, path, body)
        assert status < 500, answer


def test_soft_idle_freezes_the_instance_and_an_invoke_thaws_it(data_dir):
    env = {"ANYLAMBDA_SOFT_IDLE_TIMEOUT": "0.3"}
    with running_server(data_dir, env=env) as srv:
        client = srv.client()
        create(client, "dozy")
        pid = invoke(client, "dozy")["pid"]
        assert wait_for(lambda: process_state(pid) == "T"), "the idle instance is stopped"
        assert invoke(client, "dozy")["pid"] == pid, "and thawed for the next invocation"
        assert process_state(pid) != "T"
