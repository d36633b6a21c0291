"""Take the README's screenshots: run `escort demo` in an empty folder, then photograph the
dispatcher's board and live map in Chromium once the demo's drives have raised their alerts.

    python scripts/screenshots.py [--out docs/screenshots] [--wait-s 150]

Needs the test extra (Playwright) and Debian's Chromium. Map tiles are off (this machine has
no internet), so the maps show the routes, markers and labels on a blank background.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout_s: float) -> None:
    """Wait until the URL answers 200, or fail with a clear message."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"error: the demo did not answer at {url} within {timeout_s:.0f} s")


def main() -> None:
    """Run the demo, log in as its dispatcher and save the board and the live map as PNG files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--wait-s", type=float, default=150.0, help="how long the drives run before the photos")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    escort = Path(sys.executable).with_name("escort")
    with tempfile.TemporaryDirectory(prefix="escort-shots-") as folder:
        env = {"PATH": os.environ["PATH"], "HOME": folder, "ESCORT_TILE_URL": ""}
        demo = subprocess.Popen([str(escort), "demo", "--port", str(port), "--speedup", "20"], cwd=folder, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(f"{url}/healthz", 120)
            print(f"screenshots: the demo runs at {url}; letting it drive {args.wait_s:.0f} s", flush=True)
            time.sleep(args.wait_s)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
                page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
                page.goto(f"{url}/login")
                page.fill("#username", "dispatch")
                page.fill("#password", "demo-pass")
                page.click("#login-submit")
                page.wait_for_load_state("networkidle")
                for name, path in (("board", "/dispatch/board"), ("live-map", "/dispatch")):
                    page.goto(url + path)
                    page.wait_for_load_state("networkidle")
                    time.sleep(3)  # the first live updates
                    page.screenshot(path=str(args.out / f"{name}.png"))
                    print(f"screenshots: {args.out / f'{name}.png'}", flush=True)
                browser.close()
        finally:
            os.killpg(demo.pid, signal.SIGINT)
            demo.wait(timeout=30)


if __name__ == "__main__":
    main()
