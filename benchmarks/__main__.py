"""``python -m benchmarks``: run the workloads, print one table, write it as JSON."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.report import render, to_json, write_json
from benchmarks.results import Row
from benchmarks.rie import SAM_CLI_VERSION
from benchmarks.targets import evaluate
from benchmarks.workloads import LOADED, WORKLOADS, Settings

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"
_REPO = Path(__file__).resolve().parent.parent


def default_cache_dir() -> Path:
    """``$ANYLAMBDA_CACHE_DIR/bench``, else ``${XDG_CACHE_HOME:-~/.cache}/anylambda/bench``."""
    from anylambda.runtimes.images import default_cache_dir as anylambda_cache

    return anylambda_cache() / "bench"


def build_parser() -> argparse.ArgumentParser:
    """The harness's options."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark anylambda against AWS's Runtime Interface Emulator (RIE), "
        "side by side in one run; see docs/performance.md.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 run of 1 s per load figure, 2 cold-start samples"
    )
    parser.add_argument("--runs", type=int, help="measured runs per load figure (default 3)")
    parser.add_argument("--duration", type=int, help="seconds per measured load run (default 3)")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(WORKLOADS),
        metavar="WORKLOAD",
        help=f"run only this workload (repeatable): {', '.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        help=f"where to write results (default {DEFAULT_JSON})",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="where the RIE binary is kept (default $ANYLAMBDA_CACHE_DIR/bench, "
        "else ~/.cache/anylambda/bench)",
    )
    return parser


def settings_for(args: argparse.Namespace, workdir: Path) -> Settings:
    """The settings ``args`` ask for."""
    runs = args.runs or (1 if args.quick else 3)
    if runs < 1:
        raise SystemExit("--runs must be at least 1")
    return Settings(
        workdir=workdir,
        cache_dir=args.cache_dir or default_cache_dir(),
        runs=runs,
        duration=args.duration or (1 if args.quick else 3),
        warmup=1,
        samples=2 if args.quick else max(runs, 5),
    )


def main(argv: list[str] | None = None) -> int:
    """Run the selected workloads; 1 if any failed, else 0 (missed targets are not failures)."""
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_signal)  # unwind, stopping what was started
    selected = args.only or list(WORKLOADS)
    if LOADED.intersection(selected) and shutil.which("wrk") is None:
        print("python -m benchmarks: wrk is missing: apt-get install wrk", file=sys.stderr)
        return 2
    rows: list[Row] = []
    notes: list[str] = []
    status = 0
    load_before = os.getloadavg()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="anylambda-bench-") as workdir:
        settings = settings_for(args, Path(workdir))
        for name in selected:
            try:
                outcome = WORKLOADS[name](settings)
            except Exception as exc:  # report the others' figures all the same
                notes.append(f"{name} FAILED: {type(exc).__name__}: {exc}")
                status = 1
                continue
            rows.extend(outcome.rows)
            notes.extend(outcome.notes)
    verdicts = evaluate(rows)
    meta = _meta(settings, selected, load_before, time.monotonic() - started)
    print(render(rows, verdicts, notes))
    write_json(args.json, to_json(rows, verdicts, notes, meta))
    print(f"\nresults written to {args.json}")
    return status


def _first_line(argv: list[str]) -> str | None:
    """The first line ``argv`` prints, if it runs."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    return (done.stdout or done.stderr).partition("\n")[0].strip() or None


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _meta(
    settings: Settings, selected: list[str], load_before: tuple[float, ...], seconds: float
) -> dict[str, Any]:
    """Where and how the figures were taken."""
    commit = _first_line(["git", "-C", str(_REPO), "rev-parse", "--short", "HEAD"])
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "workloads": selected,
        "runs": settings.runs,
        "duration_s": settings.duration,
        "warmup_s": settings.warmup,
        "cold_start_samples": settings.samples,
        "seconds_taken": round(seconds, 1),
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "aws_sam_cli_for_rie": SAM_CLI_VERSION,
        "load_generator": _first_line(["wrk", "--version"]),
    }


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # everything started has been stopped on the way out
        sys.exit(130)
