"""bench's own arithmetic: the rounds' medians and ratio range, the campus-idp-only rows, the
error count that decides the exit status, the machine meter on this machine's /proc, and the
profile's reading of py-spy's folded stacks."""

from __future__ import annotations

import time
from pathlib import Path

from bench import report
from bench.profile import inclusive, top_frames
from bench.quiet import Meter, bench_cpu, idle_check, verdict
from bench.run import summarise


def _round(rate: float, p50: float, errors: int = 0, busy: bool = False) -> dict:
    return {"units_per_second": rate, "requests_per_second": rate, "ok": int(rate * 10),
            "errors": errors, "connections": 16, "requests_per_unit": 1,
            "latency_ms": {"p50": p50, "p90": p50 * 2, "p99": p50 * 3, "max": p50 * 4,
                           "mean": p50},
            "machine": {"outside_percent": 40.0 if busy else 1.0, "steal_percent": 0.0,
                        "bench_percent": 90.0, "busy": busy}}


def _results() -> dict:
    ours = [_round(100, 2.0), _round(120, 1.0), _round(90, 3.0, errors=1)]
    theirs = [_round(100, 2.0), _round(100, 2.0, busy=True), _round(100, 2.0)]
    case = {"case": "refresh", "label": "refresh_token (rotating)", "unit": "tokens",
            "campus_idp": summarise(ours), "peer": summarise(theirs),
            "ratio": {"median": 1.0, "min": 0.9, "max": 1.2, "rounds": [1.0, 1.2, 0.9]}}
    return {"machine": {"cores": 2}, "settings": {"people": 2000, "warmup": 8, "rewarm": 2,
                                                  "duration": 10, "rounds": 3},
            "cases": [case],
            "cas": {"units_per_second": 50.0, "per_core": 25.0, "errors": 0,
                    "latency_ms": {"p50": 5.0, "p99": 9.0}},
            "qr": [{"waiting": 50, "workers": 1, "held": 50, "approvals": 50,
                    "units_per_second": 10.0, "errors": 2, "failed_polls": [],
                    "latency_ms": {"p50": 9.0, "p99": 29.0}, "idle_worker_core_percent": 0.6,
                    "idle_worker_us_per_pc_second": 120.0, "idle_redis_core_percent": 0.8,
                    "worker_rss_kib_per_pc": 60.0, "redis_connections_added": 49}]}


def test_a_side_is_the_median_of_its_rounds_with_every_error() -> None:
    side = summarise([_round(100, 2.0), _round(120, 1.0), _round(90, 3.0, errors=1)])
    assert side["units_per_second"] == 100
    assert side["units_per_second_range"] == [90, 120]
    assert side["latency_ms"]["p50"] == 2.0
    assert side["errors"] == 1
    assert len(side["rounds"]) == 3
    assert not side["busy"]


def test_the_table_shows_the_ratio_range_busy_rounds_and_campus_only_rows() -> None:
    rows = report.rows(_results())
    refresh, cas, qr = rows
    assert refresh[4] == "1.00× (0.90–1.20)"
    assert refresh[9] == "busy: 40% CPU outside the bench"  # the peer's second round
    assert cas[:4] == ["CAS 3.0: ticket + p3/serviceValidate", "tickets", "50", "—"]
    assert cas[5] == "25.0"
    assert "50 PCs waiting, 1 worker" in qr[0]
    assert report.error_count(_results()) == 1 + 2
    assert "refresh_token (rotating)" in report.markdown_table(_results())
    assert "QR sign-in, 50 PCs waiting on 1 worker: 50 held" in report.summary(_results())


def test_the_meter_counts_this_process_as_the_bench() -> None:
    meter = Meter()
    meter.start()
    ends = time.process_time() + 0.3
    while time.process_time() < ends:  # CPU of the bench itself, not "outside"
        pass
    sample = meter.stop()
    assert sample["bench_percent"] > 0
    assert meter.samples == [sample]
    assert bench_cpu() > 0
    before = idle_check(0.2)
    assert set(before) >= {"busy_percent", "steal_percent", "busy"}
    assert verdict(before, meter.samples)["measured_runs"] == 1


def test_a_profile_frame_holding_a_carriage_return_stays_on_its_line(tmp_path: Path) -> None:
    """py-spy's folded stacks: one stack per line, a space, its count. A frame's text (a
    thread's or a process's name) may hold a carriage return, which reading the file as text
    would take for the end of a line."""
    folded = tmp_path / "case.folded"
    folded.write_bytes(b'process 1:"idp\rserve";main (a.py:1);sign (b.py:2) 3\n'
                       b'process 1:"idp\rserve";main (a.py:1) 1\n')
    assert top_frames(folded) == [("sign (b.py:2)", 75.0), ("main (a.py:1)", 25.0)]
    assert inclusive(folded, ["sign"]) == {"sign": 75.0}
