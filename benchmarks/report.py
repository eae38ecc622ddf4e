"""Results: rows of figures over runs, printed as one table and written as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.results import Row, number
from benchmarks.stats import Spread
from benchmarks.targets import Verdict


def spread_text(values: Sequence[float]) -> str:
    """``median (min-max)`` of per-run values, or just the value for a single run."""
    if not values:
        return "-"
    spread = Spread.of(values)
    if len(values) == 1:
        return number(spread.median)
    return f"{number(spread.median)} ({number(spread.low)}-{number(spread.high)})"


def render(rows: Sequence[Row], verdicts: Sequence[Verdict], notes: Sequence[str]) -> str:
    """The table of every row, then each target's verdict, then notes."""
    header = ("workload", "metric", "anylambda", "peer", "ratio")
    cells = [
        (
            row.workload,
            f"{row.metric} ({row.unit})",
            spread_text(row.anylambda),
            f"{row.peer} {spread_text(row.reference)}" if row.peer else "",
            f"{row.ratio:.2f}x" if row.ratio is not None else "",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in [header, *cells]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("targets")
    lines.extend(f"  [{verdict.status}] {verdict.target}: {verdict.detail}" for verdict in verdicts)
    lines.extend(f"note: {row.workload}, {row.metric}: {row.note}" for row in rows if row.note)
    lines.extend(f"note: {note}" for note in notes)
    return "\n".join(lines)


def to_json(
    rows: Sequence[Row],
    verdicts: Sequence[Verdict],
    notes: Sequence[str],
    meta: Mapping[str, Any],
) -> dict[str, Any]:
    """Everything a run measured, with each row's per-run values and their spread."""

    def figure(values: Sequence[float]) -> dict[str, Any] | None:
        if not values:
            return None
        spread = Spread.of(values)
        return {"median": spread.median, "min": spread.low, "max": spread.high, "runs": values}

    return {
        "meta": dict(meta),
        "rows": [
            {
                "key": row.key,
                "workload": row.workload,
                "metric": row.metric,
                "unit": row.unit,
                "anylambda": figure(row.anylambda),
                "peer": row.peer or None,
                "reference": figure(row.reference),
                "ratio": row.ratio,
                "note": row.note or None,
            }
            for row in rows
        ],
        "targets": [{"target": v.target, "met": v.met, "detail": v.detail} for v in verdicts],
        "notes": list(notes),
    }


def write_json(path: Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` to ``path``, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
