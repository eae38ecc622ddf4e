"""How a container ended, in AWS's words, from the engine's inspect data.

Docker reports an out-of-memory kill in ``State.OOMKilled``. Podman's monitor
(conmon) does not always notice one (it never did on the cgroup v1 hosts this
was tested on), so a backend may also pass ``oom_suspected``: the container
died of a SIGKILL that the backend did not send, while the kernel's count of
OOM kills (:class:`OomKillCounter`) went up.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from anylambda.core.models import ExitStatus

#: The exit code of a process killed by SIGKILL, as engines report it.
SIGKILL_EXIT = 128 + signal.SIGKILL
#: How a container removed by the backend (terminate) ended.
KILLED = ExitStatus(code=None, signal=signal.SIGKILL)
#: The kernel's counters; ``oom_kill`` counts every OOM kill on the host (Linux 4.13+).
VMSTAT = Path("/proc/vmstat")


def exit_status(
    state: Mapping[str, Any], memory_size: int, *, oom_suspected: bool = False
) -> ExitStatus:
    """How a container ended, from its inspected ``State``."""
    code = int(state.get("ExitCode") or 0)
    if state.get("OOMKilled") or (oom_suspected and code == SIGKILL_EXIT):
        return ExitStatus(
            code=None,
            signal=signal.SIGKILL,
            reason=f"signal: killed (out of memory: MemorySize {memory_size} MB)",
        )
    # A process killed by a signal shows as 128 + the signal's number.
    if 128 < code <= 128 + signal.NSIG:
        return ExitStatus(code=None, signal=code - 128)
    return ExitStatus(code=code)


class OomKillCounter:
    """Whether the kernel killed any process for lack of memory since this was created."""

    def __init__(self, vmstat: Path = VMSTAT) -> None:
        self._vmstat = vmstat
        self._start = self._read()

    def fired(self) -> bool:
        """An OOM kill happened on this host since creation (``False`` if unknowable)."""
        now = self._read()
        return now is not None and self._start is not None and now > self._start

    def _read(self) -> int | None:
        try:
            lines = self._vmstat.read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            name, _, value = line.partition(" ")
            if name == "oom_kill" and value.strip().isdigit():
                return int(value)
        return None
