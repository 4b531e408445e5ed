"""`cordon simulate` against a real Mosquitto: what it reports is what a subscriber received."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cordon.services import PrivateMosquitto, free_port

ROOT = Path(__file__).resolve().parent.parent


def test_load_mode_delivers_what_it_reports(tmp_path):
    labels = tmp_path / "labels.jsonl"
    registry = tmp_path / "registry.json"
    with PrivateMosquitto(free_port()) as broker:
        counter = subprocess.Popen(
            ["mosquitto_sub", "-p", str(broker.port), "-t", "#", "-q", "1", "-i", "counter",
             "-C", "50000", "-W", "60"],
            stdout=subprocess.PIPE,
        )
        # The counter must be subscribed before the first message.
        for _ in range(50):
            if "counter" in broker.log_file.read_text(errors="replace"):
                break
            subprocess.run(["sleep", "0.1"], check=True)
        run = subprocess.run(
            [sys.executable, "-m", "cordon", "simulate", "--mqtt", broker.url,
             "--devices", "1000", "--rate", "5000", "--duration", "10", "--seed", "1",
             "--labels", str(labels), "--registry", str(registry)],
            capture_output=True, text=True, cwd=ROOT, timeout=120,
        )
        assert run.returncode == 0, run.stderr
        received = counter.communicate(timeout=90)[0].count(b"\n")
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert received >= 0.95 * 50_000
    assert report["sent"] == 50_000 and report["acknowledged"] == report["sent"]
    assert report["failed"] == 0 and received == report["acknowledged"]
    assert abs(report["achieved_rate"] - report["sent"] / report["seconds"]) < 1
    assert report["cpu_s"] > 0 and "[simulate]" in run.stderr
    lines = labels.read_text().splitlines()
    assert all(set(json.loads(x)) == {"supervisee", "kind", "start", "end"} for x in lines)
    assert len(json.loads(registry.read_text())["devices"]) > 500


def test_an_unreachable_broker_is_a_clear_error(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "cordon", "simulate", "--mqtt", f"mqtt://127.0.0.1:{free_port()}",
         "--devices", "20", "--rate", "100", "--duration", "1"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert run.returncode != 0
    assert "cannot reach the MQTT broker" in run.stderr
