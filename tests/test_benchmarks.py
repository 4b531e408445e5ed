"""The benchmarks run and print their JSON (correctness only: timing is not a test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_kernel_benchmark_prints_its_result_with_no_mismatch():
    out = subprocess.run(
        [sys.executable, "-m", "cordon", "bench", "kernel", "--fixes", "20000", "--zones", "1000",
         "--repeat", "1"],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(result) >= {"fixes", "zones", "vertices", "cordon_fixes_per_s",
                           "shapely_fixes_per_s", "speedup", "mismatches", "jit_warmup_s"}
    assert result["fixes"] == 20000 and result["zones"] == 3233 + 1000
    assert result["vertices"] > 510_000
    assert result["mismatches"] == 0
    assert result["pairs"] > 20000 * 0.9
    assert "[kernel] cordon:" in out.stderr


def test_detection_benchmark_scores_the_engine_and_the_naive_detector():
    out = subprocess.run(
        [sys.executable, "-m", "cordon", "bench", "detection", "--supervisees", "40", "--days",
         "0.5", "--accel", "1200"],
        capture_output=True, text=True, cwd=ROOT, timeout=600, check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(result) >= {"kinds", "false_alerts_per_supervisee_day",
                           "naive_false_alerts_per_supervisee_day"}
    assert set(result["kinds"]) >= {"exclusion_entry", "inclusion_exit", "curfew",
                                    "victim_proximity", "separation", "tamper", "battery_dead",
                                    "silent"}
    for kind in result["kinds"].values():
        assert set(kind) >= {"precision", "recall", "delay_median_s", "delay_p99_s"}
    assert result["published"] == result["messages"]
    assert result["engine_quarantined"] == 0
    # The naive detector alerts on GPS jitter at home; the point of the comparison.
    assert result["naive_false_alerts_per_supervisee_day"] > 0
    # Cordon's own figures (a half day of 40 people holds a handful of labelled episodes; the
    # full benchmark's figures are in the README): it finds them, and does not cry wolf.
    scored = [k for k in result["kinds"].values() if k["labels"]]
    labels = sum(k["labels"] for k in scored)
    assert labels >= 3, result["kinds"]
    assert sum(k["detected"] for k in scored) / labels >= 0.75, result["kinds"]
    true_alerts = sum(k["precision"] * k["alerts"] for k in scored if k["alerts"])
    assert true_alerts / max(1, sum(k["alerts"] for k in scored)) >= 0.75, result["kinds"]
    assert result["false_alerts_per_supervisee_day"] <= 0.5
    assert result["false_alerts_per_supervisee_day"] * 100 \
        < result["naive_false_alerts_per_supervisee_day"]


def test_e2e_benchmark_figures_are_non_negative_and_nothing_is_lost():
    """A short batch-mode run: every figure it prints is a count, a rate, a latency or a CPU
    time of this run's own processes, so none may be negative."""
    out = subprocess.run(
        [sys.executable, "-m", "cordon", "bench", "e2e", "--mode", "batch", "--batch", "3",
         "--seconds", "4", "--rate", "200", "--devices", "100", "--consumers", "1"],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    figures = {k: v for k, v in result.items() if isinstance(v, int | float)}
    assert set(figures) >= {"msgs_per_s", "fixes_per_s", "p50_ms", "p99_ms", "engine_cpu_s",
                            "loadgen_cpu_s", "database_cpu_s", "broker_cpu_s"}
    assert all(v >= 0 for v in figures.values()), figures
    assert result["published"] == 800 and result["published_fixes"] == 2400
    assert result["stored"] == 2400 and result["lost"] == 0 and result["duplicated"] == 0
    # The engine and the database did real work in the run (the broker's share of 1,600
    # small messages may round to 0 at 10 ms a tick).
    assert result["engine_cpu_s"] > 0 and result["database_cpu_s"] > 0


def test_e2e_benchmark_times_every_probe_alert_on_a_signed_in_screen():
    """Single mode: the probes' alert changes all reach the officer's screen (a separate,
    signed-in live-feed client), each timed from the fix that confirmed it."""
    out = subprocess.run(
        [sys.executable, "-m", "cordon", "bench", "e2e", "--mode", "single", "--seconds", "6",
         "--rate", "300", "--devices", "200", "--consumers", "2"],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # Two probes (one device in a hundred), nine fixes each: three changes each.
    assert result["ws_alerts"] == 6 and result["ws_missed"] == 0, out.stderr[-2000:]
    assert 0 <= result["ws_p50_ms"] <= result["ws_p99_ms"]
    assert result["lost"] == 0 and result["duplicated"] == 0


def test_console_benchmark_drives_the_real_console_and_prints_its_figures():
    out = subprocess.run(
        [sys.executable, "-m", "cordon", "bench", "console", "--devices", "500", "--seconds", "3"],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    [size] = result["sizes"]
    assert size["devices"] == 500
    assert size["fps"] > 0 and size["load_ms"] > 0
    assert size["updates"] >= 2  # a message a second, each timed
    assert 0 < size["update_ms_p50"] <= size["update_ms_p95"] <= size["update_ms_max"]
    assert "[console] 500 devices" in out.stderr
