"""The process backend's zygote: forked Python instances are what a fresh process would be,
and are supervised, paused and killed as one.

These drive :class:`ProcessBackend` directly, with and without the zygote, on the same
launch spec; the server-level behaviours (timeouts, reaping after SIGKILL) run in
tests/acceptance with the zygote on, as it is by default.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import anyio
import pytest

from anylambda.backends.process import ProcessBackend, ProcessHandle
from anylambda.backends.process import zygote as zygote_module
from anylambda.core.config import Config
from anylambda.core.models import ExitStatus, LaunchSpec
from anylambda.runtimes import recipes
from anylambda.runtimes.launchers import Interpreters
from tests.runtimes.conftest import make_spec
from tests.support import ROLE, make_zip, running_server, wait_for

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
#: Seconds any wait on an instance may take.
TIMEOUT = 15.0

#: Prints, at import, what a process can see of how it was started; then ends as asked.
PROBE = """
import json, os, signal, sys, time

def _signals():
    found = {}
    for sig in signal.valid_signals():
        handler = signal.getsignal(sig)
        found[int(sig)] = getattr(handler, "__name__", repr(handler))
    return found

def _proc_status():
    fields = {}
    for line in open("/proc/self/status"):
        name, _, value = line.partition(":")
        if name in ("SigBlk", "SigIgn", "SigCgt", "NoNewPrivs"):
            fields[name] = value.strip()
    return fields

def _fds():
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # listdir's own
        fds[name] = target.split(":")[0]
    return fds

mask = os.umask(0)
os.umask(mask)
report = {
    "ppid": os.getppid(),
    "environ": dict(os.environ),
    "cwd": os.getcwd(),
    "path": sys.path,
    "argv": sys.argv,
    "umask": mask,
    "signals": _signals(),
    "status": _proc_status(),
    "fds": _fds(),
    "session_leader": os.getsid(0) == os.getpid() == os.getpgid(0),
    "flags": list(sys.flags),
    "dont_write_bytecode": sys.flags.dont_write_bytecode,
    "tz": list(time.tzname),
    "encoding": [sys.getfilesystemencoding(), sys.stdout.encoding],
    "main": sorted(k for k in vars(sys.modules["__main__"]) if not k.startswith("__")),
}
print("REPORT " + json.dumps(report), flush=True)
mode = os.environ.get("PROBE_MODE", "exit")
if mode == "exit":
    os._exit(int(os.environ.get("PROBE_CODE", "0")))
if mode == "sleep":
    import subprocess
    child = subprocess.Popen(["sleep", "600"])
    print(f"SLEEPING {child.pid}", flush=True)
    time.sleep(600)

def handler(event, context):
    return event
"""


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    code = tmp_path / "code"
    code.mkdir()
    (code / "probe.py").write_text(PROBE)
    (code / "lib").mkdir()
    code.chmod(0o555)
    return code


def spec_for(code_dir: Path, **environment: str) -> LaunchSpec:
    """A launch spec of the probe, with the Lambda variables and ``environment``."""
    spec = make_spec(code_dir, runtime=RUNTIME, handler="probe.handler")
    (recipe,) = [r for r in recipes(Interpreters()) if r.name == RUNTIME]
    env = {**spec.environment, "TZ": ":UTC", "LANG": "en_US.UTF-8", **environment}
    return LaunchSpec(
        instance_id=spec.instance_id,
        function=spec.function,
        fingerprint=spec.fingerprint,
        recipe=recipe,
        runtime_api="127.0.0.1:9",
        code_dir=code_dir,
        layer_dirs=(code_dir / "lib",),
        environment={**env, "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9"},
    )


@pytest.fixture
async def backends(tmp_path: Path) -> AsyncIterator[dict[bool, ProcessBackend]]:
    """A backend with the zygote and one without, on the same data directory."""
    made = {
        zygote: ProcessBackend(Config(data_dir=tmp_path / "data", python_zygote=zygote))
        for zygote in (True, False)
    }
    yield made
    for backend in made.values():
        await backend.aclose()


class Run:
    """An instance being supervised, and what it printed."""

    def __init__(self, handle: ProcessHandle) -> None:
        self.handle = handle
        self.output = b""
        self.status: ExitStatus | None = None

    def sink(self, chunk: bytes) -> None:
        self.output += chunk

    def report(self) -> dict:
        line = next(x for x in self.output.decode().splitlines() if x.startswith("REPORT "))
        return json.loads(line.removeprefix("REPORT "))


async def start_zygote(backend: ProcessBackend, spec: LaunchSpec) -> None:
    """Run ``spec`` once: the first launch starts the zygote (and a new process)."""
    run = await run_to_end(backend, spec)
    assert run.report()["ppid"] == os.getpid()


async def run_to_end(backend: ProcessBackend, spec: LaunchSpec) -> Run:
    run = Run(await backend.launch(spec))
    with anyio.fail_after(TIMEOUT):
        run.status = await run.handle.supervise(run.sink)
    return run


async def until(predicate: Callable[[], object]) -> None:
    with anyio.fail_after(TIMEOUT):
        while not predicate():  # noqa: ASYNC110  (process states have no event to wait on)
            await anyio.sleep(0.02)


def process_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


async def test_a_forked_instance_sees_what_a_fresh_one_does(backends, code_dir):
    spec = spec_for(code_dir, MINE="yes")
    await start_zygote(backends[True], spec)
    forked = await run_to_end(backends[True], spec)
    fresh = await run_to_end(backends[False], spec)
    assert forked.status == fresh.status == ExitStatus(code=0)
    ours, theirs = forked.report(), fresh.report()
    assert ours.pop("ppid") != theirs.pop("ppid") == os.getpid(), "one forked, one not"
    for key in theirs:
        assert ours[key] == theirs[key], key
    assert theirs["environ"]["MINE"] == "yes"
    assert theirs["cwd"] == str(code_dir)
    assert theirs["session_leader"]


async def test_an_instance_of_another_startup_environment_gets_another_zygote(backends, code_dir):
    spec = spec_for(code_dir, PYTHONDONTWRITEBYTECODE="1", LC_ALL="C.UTF-8")
    await start_zygote(backends[True], spec_for(code_dir))
    await start_zygote(backends[True], spec)
    forked = await run_to_end(backends[True], spec)
    fresh = await run_to_end(backends[False], spec)
    ours, theirs = forked.report(), fresh.report()
    assert ours.pop("ppid") != theirs.pop("ppid")
    assert ours == theirs
    assert forked.report()["dont_write_bytecode"] == 1


@pytest.mark.parametrize("code", [0, 3])
async def test_exit_codes_reach_the_server(backends, code_dir, code):
    await start_zygote(backends[True], spec_for(code_dir))
    run = await run_to_end(backends[True], spec_for(code_dir, PROBE_CODE=str(code)))
    assert run.status == ExitStatus(code=code)
    assert run.report()["ppid"] != os.getpid()


async def sleeping(backend: ProcessBackend, spec: LaunchSpec, tg) -> Run:
    """A forked instance that sleeps."""
    await start_zygote(backend, spec_for(spec.code_dir))
    run = Run(await backend.launch(spec))

    async def supervise() -> None:
        run.status = await run.handle.supervise(run.sink)

    tg.start_soon(supervise)
    await until(lambda: b"SLEEPING " in run.output and run.output.endswith(b"\n"))
    assert run.report()["ppid"] != os.getpid()
    return run


async def test_terminate_kills_the_group_and_reports_the_signal(backends, code_dir):
    backend = backends[True]
    async with anyio.create_task_group() as tg:
        run = await sleeping(backend, spec_for(code_dir, PROBE_MODE="sleep"), tg)
        grandchild = int(run.output.split(b"SLEEPING ")[1].split()[0])
        await backend.terminate(run.handle)
    assert run.status == ExitStatus(code=None, signal=signal.SIGKILL)
    assert process_state(run.handle.pid) is None
    await until(lambda: process_state(grandchild) in (None, "Z"))


async def test_pause_and_resume_stop_and_continue_the_instance(backends, code_dir):
    backend = backends[True]
    async with anyio.create_task_group() as tg:
        run = await sleeping(backend, spec_for(code_dir, PROBE_MODE="sleep"), tg)
        await run.handle.pause()
        await until(lambda: process_state(run.handle.pid) == "T")
        await run.handle.resume()
        await until(lambda: process_state(run.handle.pid) == "S")
        await backend.terminate(run.handle)


async def test_a_dead_zygote_is_replaced_and_its_orphans_are_killed(backends, code_dir, tmp_path):
    backend = backends[True]
    spec = spec_for(code_dir, PROBE_MODE="sleep")
    async with anyio.create_task_group() as tg:
        first = await sleeping(backend, spec, tg)
        zygote = _parent(first.handle.pid)
        os.kill(zygote, signal.SIGKILL)
        await until(lambda: first.status is not None)
        assert first.status == ExitStatus(code=None, signal=signal.SIGKILL)
        second = await sleeping(backend, spec, tg)
        assert _parent(second.handle.pid) != zygote
        await backend.terminate(second.handle)
    pidfiles = list((tmp_path / "data" / "instances").glob("*.json"))
    assert len(pidfiles) == 1, "only the running zygote's pid file is left"


#: A zygote that refuses every fork.
BROKEN_ZYGOTE = """
import os, socket, sys
control = socket.socket(fileno=int(sys.argv[2]))
while True:
    data, fds, _, _ = socket.recv_fds(control, 1 << 20, 4)
    if not data:
        break
    for fd in fds:
        os.close(fd)
    control.send(b'{"error": "refused"}')
"""


async def test_a_zygote_that_cannot_fork_falls_back_to_a_new_process(
    backends, code_dir, tmp_path, monkeypatch, caplog
):
    broken = tmp_path / "broken_zygote.py"
    broken.write_text(BROKEN_ZYGOTE)
    monkeypatch.setattr(zygote_module, "MAIN", broken)
    for _ in range(2):  # the first starts the zygote, the second asks it for a fork
        run = await run_to_end(backends[True], spec_for(code_dir, PROBE_CODE="4"))
        assert run.status == ExitStatus(code=4)
    assert "Starting a new process instead of forking one" in caplog.text
    assert "refused" in caplog.text


async def test_stale_zygotes_and_instances_are_reaped(tmp_path, code_dir):
    backend = ProcessBackend(Config(data_dir=tmp_path / "data"))
    await start_zygote(backend, spec_for(code_dir))
    handle = await backend.launch(spec_for(code_dir, PROBE_MODE="sleep"))
    zygote = _parent(handle.pid)
    assert zygote != os.getpid()
    # As if the server were SIGKILLed: nothing is closed; the next backend reaps.
    await ProcessBackend(Config(data_dir=tmp_path / "data")).reap_stale()
    await until(lambda: process_state(handle.pid) in (None, "Z"))
    await until(lambda: process_state(zygote) in (None, "Z"))
    await backend.aclose()


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


# --- through a server ------------------------------------------------------------------------

SERVER_CODE = make_zip(
    {"handlers.py": "import os\n\ndef whoami(event, context):\n    return {'pid': os.getpid()}\n"}
)


def invoke_pid(client: Any, name: str) -> int:
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="handlers.whoami",
        Role=ROLE,
        Code={"ZipFile": SERVER_CODE},
    )
    response = client.invoke(FunctionName=name, Payload=b"{}")
    return int(json.loads(response["Payload"].read())["pid"])


def test_the_zygote_dies_with_a_killed_server_and_the_next_server_reaps_the_instance(data_dir):
    with running_server(data_dir) as srv:
        first = invoke_pid(srv.client(), "first")  # starts the zygote
        pid = invoke_pid(srv.client(), "forked")
        zygote = _parent(pid)
        assert _parent(first) == srv.process.pid
        assert zygote != srv.process.pid, "the instance was forked by a zygote"
        try:
            srv.process.kill()
            srv.process.wait(timeout=TIMEOUT)
            assert wait_for(lambda: process_state(zygote) in (None, "Z")), "zygote outlives"
            with running_server(data_dir):
                assert wait_for(lambda: process_state(pid) in (None, "Z"))
        finally:
            with suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def test_the_switch_turns_the_zygote_off(data_dir):
    with running_server(data_dir, env={"ANYLAMBDA_PYTHON_ZYGOTE": "false"}) as srv:
        for name in ("first", "second"):
            assert _parent(invoke_pid(srv.client(), name)) == srv.process.pid
