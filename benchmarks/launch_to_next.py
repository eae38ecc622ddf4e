"""Process backend: time from ``launch()`` to the instance's first ``GET /next``, Python echo.

Forked from a zygote against a fresh interpreter, samples interleaved in one run. Each
backend's first launch is left out and reported apart: with the zygote on, it is a new
process, which then starts the zygote. Run with
``python -m benchmarks.launch_to_next [SAMPLES]``; see docs/performance.md.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
import anyio.abc

from anylambda.backends.process import ProcessBackend
from anylambda.core.config import Config
from anylambda.core.models import CodeRef, FunctionConfig, FunctionSettings, LaunchSpec
from anylambda.runtimes import INTERPRETERS, recipes
from benchmarks import handlers

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
#: Seconds one instance may take to poll.
TIMEOUT = 10.0


async def first_next(backend: ProcessBackend, spec: LaunchSpec, polled: anyio.Event) -> float:
    """Milliseconds from launching ``spec`` to its first ``/next`` (``polled``); then kill it."""
    started = time.perf_counter()
    handle = await backend.launch(spec)
    async with anyio.create_task_group() as tg:
        tg.start_soon(handle.supervise, lambda _chunk: None)
        with anyio.fail_after(TIMEOUT):
            await polled.wait()
        elapsed = (time.perf_counter() - started) * 1000
        await backend.terminate(handle)
    return elapsed


async def main(samples: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        code = handlers.write_code(Path(tmp, "code"))
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        polled = anyio.Event()

        async def serve(stream: anyio.abc.SocketStream) -> None:
            async with stream:
                if b"/invocation/next" in await stream.receive():
                    polled.set()

        (recipe,) = [r for r in recipes(INTERPRETERS) if r.name == RUNTIME]
        function = FunctionConfig(
            name="fn",
            settings=FunctionSettings(runtime=RUNTIME, handler=handlers.ECHO),
            code=CodeRef(sha256="0" * 64, size=0),
        )
        spec = LaunchSpec(
            instance_id="bench",
            function=function,
            fingerprint="f" * 64,
            recipe=recipe,
            runtime_api=f"127.0.0.1:{port}",
            code_dir=code,
            layer_dirs=(),
            environment={"AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}", "LANG": "en_US.UTF-8"},
        )
        times: dict[str, list[float]] = {"zygote": [], "fresh": []}
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, serve)
            backends = {
                name: ProcessBackend(Config(data_dir=Path(tmp, name), python_zygote=on))
                for name, on in (("zygote", True), ("fresh", False))
            }
            first: dict[str, float] = {}
            for name, backend in backends.items():
                polled = anyio.Event()
                first[name] = await first_next(backend, spec, polled)
            for _ in range(samples):
                for name, backend in backends.items():
                    polled = anyio.Event()
                    times[name].append(await first_next(backend, spec, polled))
            for backend in backends.values():
                await backend.aclose()
            tg.cancel_scope.cancel()
    print(f"launch -> first /next, {RUNTIME}, {samples} samples each (ms):")
    for name, values in times.items():
        print(
            f"  {name:6}  median {statistics.median(values):6.1f}"
            f"  min {min(values):6.1f}  max {max(values):6.1f}"
            f"  first launch {first[name]:6.1f}"
        )


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 30)
