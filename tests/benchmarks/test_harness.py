"""The benchmark harness's pure parts: statistics, wrk's script and report, targets, the table.

No timing is asserted anywhere: ``make bench`` measures, the suite only checks the arithmetic.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.load import LoadSpec, lua_script, parse_report
from benchmarks.report import render, spread_text, to_json
from benchmarks.results import Row
from benchmarks.stats import Spread, percentile
from benchmarks.targets import evaluate
from benchmarks.workloads.common import error_note, in_turn, load_rows

REPO = Path(__file__).resolve().parents[2]


def test_percentile_interpolates_between_closest_ranks() -> None:
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([4, 1, 3, 2], 0) == 1
    assert percentile([4, 1, 3, 2], 100) == 4
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0


@pytest.mark.parametrize(("values", "q"), [([], 50), ([1.0], -1), ([1.0], 101)])
def test_percentile_refuses_what_has_none(values: list[float], q: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile(values, q)


def test_spread_is_median_min_max() -> None:
    assert Spread.of([3.0, 1.0, 2.0, 10.0]) == Spread(median=2.5, low=1.0, high=10.0)
    assert spread_text([3.0, 1.0, 2.0]) == "2.00 (1.00-3.00)"
    assert spread_text([1234.0]) == "1,234"
    assert spread_text([]) == "-"


def test_row_ratio_is_of_medians_and_needs_both_sides() -> None:
    row = Row("k", "w", "m", "ms", (1.0, 2.0, 3.0), "RIE", (4.0, 4.0, 8.0))
    assert (row.value, row.peer_value, row.ratio) == (2.0, 4.0, 0.5)
    assert Row("k", "w", "m", "ms", (1.0,)).ratio is None
    assert Row("k", "w", "m", "ms", (), "stub", (1.0,)).ratio is None


def test_in_turn_rotates_who_goes_first() -> None:
    assert [in_turn("abc", run) for run in range(4)] == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
        ["a", "b", "c"],
    ]


def test_lua_script_escapes_every_byte_of_the_request() -> None:
    script = lua_script(LoadSpec(port=1, path="/p", body=b'{"a": "\\n"}'))
    assert 'wrk.method = "\\80\\79\\83\\84"' in script
    assert 'wrk.body = "\\123\\34\\97\\34' in script
    assert "done = function" in script
    assert "wrk.body" not in lua_script(LoadSpec(port=1, path="/p", method="GET"))


def test_parse_report_reads_the_json_line_wrk_ends_with() -> None:
    report = {
        "requests": 3000,
        "duration_us": 3_000_000,
        "p50_us": 650.0,
        "p99_us": 2400.0,
        "connect": 0,
        "read": 0,
        "write": 2,
        "status": 1000,
        "timeout": 0,
    }
    stdout = "Running 3s test @ http://127.0.0.1:1/p\n  1 threads\n" + json.dumps(report) + "\n"
    result = parse_report(stdout)
    assert result.ok == 2000
    assert result.throughput == pytest.approx(2000 / 3)
    assert (result.p50_ms, result.p99_ms) == (0.65, 2.4)
    assert result.errors == {"write": 2, "status": 1000}


def test_parse_report_without_responses_has_no_latency() -> None:
    report = dict.fromkeys(
        ("requests", "p50_us", "p99_us", "connect", "read", "status", "timeout"), 0
    )
    result = parse_report(json.dumps({**report, "duration_us": 1_000_000, "write": 5}))
    assert (result.ok, result.throughput, result.p50_ms, result.p99_ms) == (0, 0.0, None, None)
    with pytest.raises(RuntimeError, match="no report"):
        parse_report("wrk: connection refused\n")


def test_load_rows_leave_out_latencies_of_runs_with_no_response() -> None:
    ours = [parse_report(_report(requests=100, p50_us=1000))]
    theirs = [parse_report(_report(requests=0, p50_us=0, write=40))]
    throughput, p50, _ = load_rows("c", "w", ours, theirs, "RIE")
    assert throughput.reference == (0.0,)
    assert p50.anylambda == (1.0,)
    assert p50.reference == ()
    assert error_note("RIE", theirs) == "RIE: wrk counted errors: 40 write"
    assert error_note("anylambda", ours) is None


def _report(requests: int, p50_us: float, write: int = 0) -> str:
    return json.dumps(
        {
            "requests": requests,
            "duration_us": 1_000_000,
            "p50_us": p50_us,
            "p99_us": p50_us,
            "connect": 0,
            "read": 0,
            "write": write,
            "status": 0,
            "timeout": 0,
        }
    )


def _rows(**values: tuple[tuple[float, ...], tuple[float, ...]]) -> list[Row]:
    return [
        Row(key.replace("_", "."), "w", "m", "u", ours, "peer" if theirs else "", theirs)
        for key, (ours, theirs) in values.items()
    ]


def test_targets_judge_medians_against_the_issue_limits() -> None:
    rows = _rows(
        sequential_throughput=((900.0, 1200.0, 1100.0), (1000.0, 1050.0, 1000.0)),
        sequential_p50=((1.4,), (1.0,)),
        cold_create=((150.0,), (100.0,)),
        cold_evicted=((151.0,), (100.0,)),
        docker_create=((700.0,), (500.0,)),
        scale_invoke_p50=((1.1,), (1.0,)),
    )
    rows.append(Row("memory.per_instance", "w", "m", "u", (300.0,)))
    rows.append(Row("concurrency.16.throughput", "w", "m", "u", (300.0,)))
    rows.append(Row("concurrency.64.throughput", "w", "m", "u", (1100.0,)))
    verdicts = {v.target: v for v in evaluate(rows)}
    met = {target: v.met for target, v in verdicts.items()}
    assert met == {
        "warm sequential throughput ≥ 1.0x RIE": True,
        "warm sequential p50 ≤ RIE's + 0.3 ms": False,
        "concurrency 16 ≥ 90% of ideal": True,
        "concurrency 64 ≥ 90% of ideal": False,
        "cold start, CreateFunction → response ≤ 1.5x RIE": True,
        "cold start after idle eviction ≤ 1.5x RIE": False,
        "Docker cold start, CreateFunction → response ≤ floor + 200 ms": True,
        "Docker cold start after idle eviction ≤ floor + 200 ms": None,
        "server memory per idle warm instance ≤ 256 KB": False,
        "Invoke p50 with 1,000 functions within 10% of 10": True,
    }
    assert verdicts["concurrency 64 ≥ 90% of ideal"].detail == "1,100 of 1,280 req/s (86%)"
    assert verdicts["warm sequential p50 ≤ RIE's + 0.3 ms"].detail == (
        "1.40 vs 1.00 ms (+0.40 ms, limit +0.30)"
    )
    assert verdicts["Docker cold start after idle eviction ≤ floor + 200 ms"].status == (
        "not measured"
    )


def test_report_renders_one_table_and_serialises_to_json() -> None:
    rows = [
        Row("sequential.throughput", "warm", "throughput", "req/s", (900.0,), "RIE", (1000.0,)),
        Row("memory.empty", "memory", "no functions", "MB", (40.0, 42.0), note="fresh server"),
    ]
    verdicts = evaluate(rows)
    text = render(rows, verdicts, ["measured while other work ran"])
    assert "RIE 1,000" in text
    assert "0.90x" in text
    assert "[NOT MET] warm sequential throughput ≥ 1.0x RIE: 900 vs 1,000 req/s (0.90x)" in text
    assert "note: memory, no functions: fresh server" in text
    document = json.loads(json.dumps(to_json(rows, verdicts, ["n"], {"runs": 1})))
    assert document["rows"][1]["anylambda"] == {
        "median": 41.0,
        "min": 40.0,
        "max": 42.0,
        "runs": [40.0, 42.0],
    }
    assert document["rows"][1]["reference"] is None
    assert document["targets"][0]["met"] is False


def test_help_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "--quick" in done.stdout
    assert "--only" in done.stdout
