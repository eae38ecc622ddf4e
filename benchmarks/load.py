"""The load generator: wrk, in its own process, with one keep-alive connection per client.

wrk (Debian's ``wrk`` package; ``make bench`` installs it) is a C event loop:
it adds a few tens of microseconds to each request where a Python client adds
hundreds, which matters against RIE's sub-millisecond invokes. It runs with one
thread and ``concurrency`` connections, each sending its next request as soon
as the previous response is in, for whole seconds; a Lua script sets the
request and prints a JSON summary (latency percentiles in microseconds, error
counts) when the run is done. A warm-up run, not counted, precedes the
measured one when asked for, and the measured run starts :data:`SETTLE_SECONDS`
after it: wrk drops the requests in flight when its warm-up ends, and their
invocations keep running (and keep their instances busy) until their handler
returns; a measured run starting at once would find every instance busy and make
the server start more, as it should for new work that finds no free instance.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

#: Seconds wrk waits for one response before it counts a timeout.
REQUEST_TIMEOUT = 30
#: Seconds between the warm-up and the measured run, for the warm-up's dropped requests to end.
SETTLE_SECONDS = 0.5

_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\n{"requests": %d, "duration_us": %d, "p50_us": %.1f, "p99_us": %.1f, '
      .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass(frozen=True)
class LoadSpec:
    """What to send, over how many connections at once, and for how long."""

    port: int
    path: str
    body: bytes = b""
    method: str = "POST"
    concurrency: int = 1
    duration: int = 3
    """Whole seconds of the measured run (wrk's unit)."""
    warmup: int = 1
    """Whole seconds of an uncounted run before it (0: none)."""


@dataclass(frozen=True)
class LoadResult:
    """What one measured run saw."""

    ok: int
    """Responses with a 2xx or 3xx status."""
    throughput: float
    """Successful requests per second."""
    p50_ms: float | None
    """Latency of the responses, as wrk times them (None if none succeeded)."""
    p99_ms: float | None
    errors: dict[str, int] = field(default_factory=dict)
    """Failed requests by kind: connect, read, write, timeout, status (non-2xx/3xx)."""
    warmup_errors: dict[str, int] = field(default_factory=dict)


def wrk_path() -> str:
    """The wrk binary; a clear error if it is missing."""
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk (make bench does)")
    return found


def lua_script(spec: LoadSpec) -> str:
    """The wrk script that sends ``spec``'s request and reports in JSON."""
    lines = [f"wrk.method = {_lua_string(spec.method.encode())}"]
    if spec.body:
        lines.append(f"wrk.body = {_lua_string(spec.body)}")
        lines.append('wrk.headers["Content-Type"] = "application/json"')
    return "\n".join(lines) + "\n" + _REPORT


def parse_report(stdout: str) -> LoadResult:
    """The LoadResult of wrk's output, from the JSON line the script prints."""
    line = next((ln for ln in reversed(stdout.splitlines()) if ln.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no report:\n{stdout[-2000:]}")
    report = json.loads(line)
    errors = {k: report[k] for k in ("connect", "read", "write", "timeout", "status") if report[k]}
    ok = report["requests"] - report["status"]
    return LoadResult(
        ok=ok,
        throughput=ok / (report["duration_us"] / 1e6) if report["duration_us"] else 0.0,
        p50_ms=report["p50_us"] / 1000 if ok else None,
        p99_ms=report["p99_us"] / 1000 if ok else None,
        errors=errors,
    )


def run_load(spec: LoadSpec) -> LoadResult:
    """Warm up (uncounted), then measure ``spec`` with wrk."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(lua_script(spec))
        script.flush()
        warmup = None
        if spec.warmup:
            warmup = _wrk(spec, spec.warmup, Path(script.name))
            time.sleep(SETTLE_SECONDS)
        result = _wrk(spec, spec.duration, Path(script.name))
    return result if warmup is None else replace(result, warmup_errors=warmup.errors)


def _wrk(spec: LoadSpec, seconds: int, script: Path) -> LoadResult:
    argv = [
        wrk_path(),
        *("--threads", "1", "--connections", str(spec.concurrency)),
        *("--duration", f"{seconds}s", "--timeout", f"{REQUEST_TIMEOUT}s"),
        *("--script", str(script)),
        f"http://127.0.0.1:{spec.port}{spec.path}",
    ]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=seconds + REQUEST_TIMEOUT + 30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}: {done.stderr.strip()}")
    return parse_report(done.stdout)


def _lua_string(data: bytes) -> str:
    """``data`` as a Lua string literal, every byte a decimal escape."""
    return '"' + "".join(f"\\{byte}" for byte in data) + '"'
