"""Console benchmark: the officer's console in headless Chromium with N devices moving once a
second.

The real console (``api/static``: index.html, the ES modules, vendored Leaflet) is served by a
small local server with a stub of the API it reads at start (registry, positions, alerts, zones,
boundaries) and a stub live feed (``WS /api/v1/live``) that sends every device's new position
in one ``positions`` message each second, as the engine's feed coalesces them. So what is
measured is the console's own path: the feed's message parsed and applied by ``main.js`` /
``map.js`` / ``roster.js``, and the map drawn by the browser (software rendering here).

Per size:

- ``load_ms``: from navigation until every device is on the map;
- ``fps``: ``requestAnimationFrame`` callbacks per second over ``--seconds`` of updates;
- ``update_ms_p95`` (and p50, max): time to apply one positions message (the WebSocket's
  ``onmessage``: parse and apply, synchronously), over the same seconds.

    python -m benchmarks.console [--devices 10000 50000] [--seconds 10]

Progress goes to stderr; the last line on stdout is the JSON result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import threading
import time
from importlib import resources
from typing import Any

import numpy as np
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--enable-unsafe-swiftshader"]
CENTRE = (-97.74, 30.27)
SPAN_DEG = 0.5  # devices spread over a county-sized box
STEP_DEG = 0.0004  # about 40 m a second at most: walking to driving


def log(msg: str) -> None:
    print(f"[console] {msg}", file=sys.stderr, flush=True)


def json_response(doc: Any) -> Response:
    return Response(orjson.dumps(doc), media_type="application/json")


class Fleet:
    """N devices on a random walk, one per supervisee."""

    def __init__(self, n: int, seed: int = 1):
        self.n = n
        self.rng = np.random.default_rng(seed)
        self.lon = CENTRE[0] + (self.rng.random(n) - 0.5) * SPAN_DEG
        self.lat = CENTRE[1] + (self.rng.random(n) - 0.5) * SPAN_DEG
        self.ids = [f"d-{i:06d}" for i in range(n)]
        self.people = [f"S-{i:06d}" for i in range(n)]

    def step(self) -> None:
        self.lon += (self.rng.random(self.n) - 0.5) * 2 * STEP_DEG
        self.lat += (self.rng.random(self.n) - 0.5) * 2 * STEP_DEG

    def positions(self) -> list[dict[str, Any]]:
        now = time.time()
        lon, lat = self.lon.tolist(), self.lat.tolist()
        return [{"device_id": d, "supervisee_id": s, "ts": now, "lon": x, "lat": y,
                 "accuracy_m": 10.0, "battery": 80.0, "jurisdiction_id": "j"}
                for d, s, x, y in zip(self.ids, self.people, lon, lat, strict=True)]


def stub_app(fleet: Fleet, static_dir: str, index: str) -> Starlette:
    half = SPAN_DEG / 2 + 0.05
    box = [[CENTRE[0] - half, CENTRE[1] - half], [CENTRE[0] + half, CENTRE[1] - half],
           [CENTRE[0] + half, CENTRE[1] + half], [CENTRE[0] - half, CENTRE[1] + half],
           [CENTRE[0] - half, CENTRE[1] - half]]
    people = [{"id": s, "name": s, "jurisdiction_id": "j", "plan_id": None, "zone_ids": [],
               "device_ids": [d]} for s, d in zip(fleet.people, fleet.ids, strict=True)]
    devices = [{"id": d, "kind": "bracelet", "supervisee_id": s, "victim_id": None,
                "report_interval_s": 1.0} for s, d in zip(fleet.people, fleet.ids, strict=True)]

    def paged(key: str, rows: list) -> Any:
        async def endpoint(request: Request) -> Response:
            limit = int(request.query_params.get("limit", 500))
            offset = int(request.query_params.get("offset", 0))
            return json_response({key: rows[offset:offset + limit]})
        return endpoint

    def fixed(doc: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            return json_response(doc)
        return endpoint

    async def positions(request: Request) -> Response:
        return json_response({"positions": fleet.positions()})

    async def page(request: Request) -> Response:
        return FileResponse(index)

    async def live(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                started = time.monotonic()
                fleet.step()
                await ws.send_text(orjson.dumps(
                    {"type": "positions", "positions": fleet.positions()}).decode())
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
        except (WebSocketDisconnect, RuntimeError):
            pass

    tree = [{"id": "j", "name": "County", "kind": "county", "parent_id": None, "children": []}]
    return Starlette(routes=[
        Route("/", page),
        Route("/api/v1/ui-config", fixed({"tile_url": None})),
        Route("/api/v1/jurisdictions/boundaries", fixed({"type": "FeatureCollection", "features": [
            {"type": "Feature", "id": "j", "properties": {"name": "County"},
             "geometry": {"type": "Polygon", "coordinates": [box]}}]})),
        Route("/api/v1/zones", fixed({"type": "FeatureCollection", "features": []})),
        Route("/api/v1/supervisees", paged("supervisees", people)),
        Route("/api/v1/devices", paged("devices", devices)),
        Route("/api/v1/plans", fixed({"plans": []})),
        Route("/api/v1/jurisdictions", fixed({"jurisdictions": [
            {"id": "j", "name": "County", "kind": "county", "parent_id": None}], "tree": tree})),
        Route("/api/v1/positions", positions),
        Route("/api/v1/alerts", fixed({"alerts": []})),
        Route("/api/v1/health", fixed({"counters": {"fixes_stored": 0, "quarantined": 0}})),
        WebSocketRoute("/api/v1/live", live),
        Mount("/static", StaticFiles(directory=static_dir)),
    ])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, app: Starlette):
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", ws_max_size=1 << 28))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


# Signed in already (the session's token), and a probe on the feed's socket: the time each
# message takes to apply, and requestAnimationFrame counts.
PROBE = """
sessionStorage.setItem("cordon.access", "bench");
sessionStorage.setItem("cordon.refresh", "bench");
localStorage.setItem("cordon.locale", "en");
window.__bench = { updates: [], frames: 0, counting: false };
(function count() {
  if (window.__bench.counting) window.__bench.frames += 1;
  requestAnimationFrame(count);
})();
const NativeWS = window.WebSocket;
window.WebSocket = class extends NativeWS {
  set onmessage(handler) {
    super.onmessage = (msg) => {
      const t0 = performance.now();
      handler(msg);
      if (window.__bench.counting) window.__bench.updates.push(performance.now() - t0);
    };
  }
  get onmessage() { return super.onmessage; }
};
"""


def measure(browser: Any, base: str, n: int, seconds: float) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": 1400, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(PROBE)
    t0 = time.monotonic()
    page.goto(base + "/")
    page.wait_for_function(f"() => window.cordon && window.cordon.markers.size >= {n}",
                           timeout=300_000, polling=100)
    load_ms = (time.monotonic() - t0) * 1000
    page.wait_for_function("() => window.cordon.feed.connections >= 1", timeout=60_000)
    page.wait_for_timeout(2000)  # the first messages, JIT warm-up
    page.evaluate("() => { window.__bench.frames = 0; window.__bench.updates = [];"
                  " window.__bench.counting = true; window.__bench.t0 = performance.now(); }")
    page.wait_for_timeout(seconds * 1000)
    got = page.evaluate("() => { window.__bench.counting = false; return {frames:"
                        " window.__bench.frames, updates: window.__bench.updates,"
                        " ms: performance.now() - window.__bench.t0}; }")
    page.close()
    if errors:
        raise RuntimeError(f"page errors at {n} devices: {errors[:3]}")
    updates = np.array(got["updates"] or [np.nan])
    return {"devices": n, "fps": round(got["frames"] / (got["ms"] / 1000), 1),
            "update_ms_p95": round(float(np.percentile(updates, 95)), 1),
            "update_ms_p50": round(float(np.percentile(updates, 50)), 1),
            "update_ms_max": round(float(np.max(updates)), 1),
            "updates": len(got["updates"]), "load_ms": round(load_ms)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="benchmarks.console", description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, nargs="+", default=[10_000, 50_000])
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per size")
    args = ap.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("cordon bench console drives a browser: pip install 'cordon[bench]' "
                         "(and Chromium: apt-get install chromium)") from None

    static = resources.files("api") / "static"
    sizes = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for n in args.devices:
                fleet = Fleet(n)
                with Server(stub_app(fleet, str(static), str(static / "index.html"))) as srv:
                    log(f"{n} devices on http://127.0.0.1:{srv.port}/")
                    sizes.append(measure(browser, f"http://127.0.0.1:{srv.port}", n,
                                         args.seconds))
                    log(json.dumps(sizes[-1]))
        finally:
            browser.close()
    result = {"benchmark": "console", "seconds": args.seconds, "sizes": sizes,
              "bars": {"fps_at_10000": 20, "update_ms_p95_at_10000": 100, "fps_at_50000": 5}}
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
