"""`cordon demo` as a person runs it: embedded broker and database, a live map in a real browser,
and Ctrl-C that leaves nothing behind."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from cordon.services import free_port

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# An MQTT 3.1.1 CONNECT with neither user nor password (client id "x"), and the CONNACK that
# refuses it (return code 5, not authorised).
ANONYMOUS_CONNECT = bytes([0x10, 13, 0, 4, *b"MQTT", 4, 0x02, 0, 60, 0, 1, *b"x"])
CONNACK_NOT_AUTHORISED = bytes([0x20, 2, 0, 5])


def processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmd:
            found.append(f"{pid}: {cmd}")
    return found


@pytest.fixture
def demo(tmp_path):
    http_port, mqtt_port = free_port(), free_port()
    log = tmp_path / "demo.log"
    # Run as root, the demo's database runs as the postgres user, who must reach this folder.
    data = Path(tempfile.mkdtemp(prefix="cordon-demo-test-"))
    data.chmod(0o711)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cordon", "demo", "--http-port", str(http_port),
             "--mqtt-port", str(mqtt_port), "--data-dir", str(data), "--interval", "2"],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
        )
    yield proc, f"http://127.0.0.1:{http_port}", mqtt_port, log, data
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    shutil.rmtree(data, ignore_errors=True)


def test_demo_shows_fixes_and_alerts_on_the_live_map_and_stops_cleanly(demo):
    proc, base, mqtt_port, log, data = demo
    started = time.monotonic()
    stored: list[int] = []
    health: dict = {}
    while time.monotonic() - started < 90:
        assert proc.poll() is None, log.read_text()
        try:
            health = httpx.get(f"{base}/api/v1/health", timeout=2).json()
        except httpx.HTTPError:
            time.sleep(0.5)
            continue
        stored.append(health["counters"]["fixes_stored"])
        if len(set(stored)) >= 3 and (health["counters"]["alerts_open"] or 0) >= 1:
            break
        time.sleep(1)
    assert health.get("status") == "ok", (health, log.read_text())
    assert len(set(stored)) >= 3 and stored == sorted(stored), stored
    assert health["counters"]["alerts_open"] >= 1
    assert health["database"]["timescaledb"]
    printed = log.read_text()
    assert f"{base}/" in printed and f"mqtt://127.0.0.1:{mqtt_port}" in printed
    # The embedded broker admits registered devices only: no anonymous client.
    with socket.create_connection(("127.0.0.1", mqtt_port), timeout=5) as anonymous:
        anonymous.sendall(ANONYMOUS_CONNECT)
        assert anonymous.recv(4) == CONNACK_NOT_AUTHORISED

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/")
        # The map asks to sign in: the demo printed its account.
        password = re.search(r"sign in +demo / (\S+)", printed).group(1)
        page.fill("#login-form input[name=username]", "demo")
        page.fill("#login-form input[name=password]", "wrong password")
        page.click("#login-form button")
        # Functions, not expressions: Playwright evaluates an expression with eval, which the
        # page's Content-Security-Policy refuses.
        page.wait_for_function("() => document.getElementById('login-error').textContent !== ''")
        page.fill("#login-form input[name=password]", password)
        page.click("#login-form button")
        page.wait_for_selector("#login", state="hidden")
        page.wait_for_function("() => window.cordon && window.cordon.markers.size >= 100",
                               timeout=20_000)
        page.wait_for_selector("#alerts li", timeout=20_000)
        page.wait_for_function(
            "() => document.getElementById('feed-state').textContent === 'connected'",
            timeout=10_000)
        # Where each device's dot is drawn (all of them on the devices layer's one canvas).
        drawn = ("(() => { const d = window.cordon.layers.devices; return [...window.cordon"
                 ".markers.values()].map((m) => [d.lon[m.i], d.lat[m.i]]); })()")
        first = page.evaluate(drawn)
        page.wait_for_timeout(6_000)  # two live updates at --interval 2
        later = page.evaluate(drawn)
        moved = sum(a != b for a, b in zip(first, later[: len(first)], strict=True))
        assert moved >= 50, f"only {moved} devices moved on the map"
        assert page.locator("#alerts li").count() >= 1
        alert_text = page.locator("#alerts").inner_text()
        assert "Entered exclusion zone" in alert_text or "Left permitted area" in alert_text
        assert page.locator("canvas").count() >= 1  # the vector layers are drawn
        page.screenshot(path=str(log.parent / "demo-map.png"))
        assert errors == []
        browser.close()

    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)  # the demo prints where its tasks wait
        time.sleep(1)
        raise AssertionError(f"demo did not stop within 30 s:\n{log.read_text()}") from None
    assert code == 0, log.read_text()
    assert processes_mentioning(str(data)) == []
    for port in (int(base.rsplit(":", 1)[1]), mqtt_port):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"


def test_demo_refuses_a_port_in_use_clearly(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "cordon", "demo", "--http-port", str(port)],
            capture_output=True, text=True, cwd=ROOT, timeout=60,
        )
        assert result.returncode == 2
        assert f"HTTP port {port} on 127.0.0.1 is already in use" in result.stderr
        assert "--http-port" in result.stderr
        result = subprocess.run(
            [sys.executable, "-m", "cordon", "demo", "--http-port", str(free_port()),
             "--mqtt-port", str(port)],
            capture_output=True, text=True, cwd=ROOT, timeout=60,
        )
        assert result.returncode == 2
        assert f"MQTT port {port} on 127.0.0.1 is already in use" in result.stderr
