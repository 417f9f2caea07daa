"""OBS-5: the admin dashboard, loaded in headless Chromium (Debian's) driven by playwright-core
(tests/browser/dashboard.mjs), shows live charts while traffic flows. The screenshot is kept
under the test's output (and copied to docs/ by scripts/dashboard-screenshot.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpc
from layouts import moto_bucket

import catalog

REPO = Path(__file__).resolve().parents[2]
H = "127.0.0.1"


def node_env() -> dict:
    tools = Path(os.environ.get("YG_TOOLS_DIR", Path.home() / ".cache" / "yatagarasu-tools"))
    env = os.environ.copy()
    env["NODE_PATH"] = str(tools / "node" / "node_modules")
    return env


def test_dashboard_renders_live_data(proxy_factory, moto_auth, tmp_path):
    p = proxy_factory([moto_bucket(moto_auth, "public", "/public", catalog.BUCKET_PUBLIC)])
    page = httpc.request(H, p.port, "GET", "/admin/")
    assert page.status == 200 and page.header("Content-Type").startswith("text/html")
    assert b"<script" in page.body and b"http://" not in page.body and b"https://" not in page.body
    stats = httpc.request(H, p.port, "GET", "/admin/stats").json()
    assert {"requests_total", "request_duration", "buckets", "replicas", "cache", "breakers",
            "recent_errors"} <= stats.keys()

    stop = threading.Event()

    def traffic():
        i = 0
        while not stop.is_set():
            httpc.request(H, p.port, "GET", "/public/hello.txt")
            httpc.request(H, p.port, "GET", "/public/range.bin")
            if i % 5 == 0:
                httpc.request(H, p.port, "GET", "/public/missing.txt")
            i += 1
            time.sleep(0.01 + 0.02 * (i % 50) / 50)  # a varying rate makes a readable chart

    t = threading.Thread(target=traffic, daemon=True)
    t.start()
    shot = tmp_path / "dashboard.png"
    try:
        # The script is an ES module: node resolves its imports from the tools cache.
        script = tmp_path / "dashboard.mjs"
        shutil.copy(REPO / "tests" / "browser" / "dashboard.mjs", script)
        link = tmp_path / "node_modules"
        link.symlink_to(Path(node_env()["NODE_PATH"]))
        r = subprocess.run(["node", str(script), f"http://{H}:{p.port}/admin/?interval=300",
                            str(shot)], capture_output=True, text=True, timeout=180,
                           env=node_env())
    finally:
        stop.set()
        t.join(5)
    assert r.returncode == 0, f"dashboard check failed:\n{r.stdout}\n{r.stderr}"
    assert shot.exists() and shot.stat().st_size > 10_000
    out = REPO / "build" / "test-output"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, out / "dashboard.png")
