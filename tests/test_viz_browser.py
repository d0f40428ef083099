"""End to end: `ccgabm viz` on a free loopback port, driven by Debian's chromium via Playwright.

Installed by scripts/install_browser.sh (scripts/test.sh runs it before pytest): chromium from
apt, Playwright's Python package without its browsers, Solara's page assets from npm. When one
of them is missing the test skips and says which (set CCGABM_REQUIRE_BROWSER=1 to fail instead).
Screenshots and timings go to .cache/viz-test/.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from support import ROOT

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("CCGABM_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / ".cache" / "viz-test"
HOW = "run scripts/install_browser.sh (apt chromium, pip playwright, npm Solara assets)"
STEPS = 5


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright's Python package is not installed"
    try:
        import solara  # noqa: F401
    except ImportError:
        return "solara is not installed"
    if not CHROMIUM.is_file():
        return f"no chromium at {CHROMIUM}"
    from ccgabm.viz.server import assets_cache_dir

    if not any(assets_cache_dir().glob("@widgetti/*/package.json")):
        return f"no offline Solara page assets at {assets_cache_dir()}"
    return None


def _require_prerequisites() -> None:
    missing = _missing()
    if missing is None:
        return
    message = f"browser test needs setup: {missing}; {HOW}"
    if os.environ.get("CCGABM_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _viz_command(port: int, config: Path) -> list[str]:
    """`ccgabm viz` once the command line has it, else the same code via `-m ccgabm.viz`."""
    import argparse

    from ccgabm.cli import build_parser

    commands = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    wired = any("viz" in a.choices for a in commands)
    head = [sys.executable, "-m", "ccgabm", "viz"] if wired else [sys.executable, "-m", "ccgabm.viz"]
    return [*head, str(config), "--host", "127.0.0.1", "--port", str(port)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _require_prerequisites()
    from ccgabm.viz.server import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = tmp_path_factory.mktemp("viz") / "server.log"
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False", "MPLBACKEND": "Agg",
           "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            _viz_command(port, ROOT / "configs" / "baseline.toml"), cwd=ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped with everything it started
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"ccgabm viz exited ({proc.returncode}):\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"ccgabm viz not answering after 30 s:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield {"url": url, "start_s": time.perf_counter() - started, "log": log_path}
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def test_page_steps_in_chromium(server):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    timings = {"server_start_s": round(server["start_s"], 2)}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-dev-shm-usage"],  # root in a container; small /dev/shm
        )
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            failed: list[str] = []
            page.on("requestfailed", lambda req: failed.append(req.url))

            t0 = time.perf_counter()
            page.goto(server["url"])
            step = page.get_by_role("button", name="Step", exact=True)
            step.wait_for(state="visible", timeout=30_000)
            counter = page.get_by_text(re.compile(r"^Time: \d+(\.\d+)?$"))
            expect(counter).to_have_text("Time: 0.0", timeout=30_000)
            page.wait_for_function(  # the practice map and the charts are on the page
                "() => [...document.images].filter(i => i.complete && i.naturalWidth > 0).length >= 2",
                timeout=30_000,
            )
            expect(page.get_by_text("Month 0 of 120")).to_be_visible()
            timings["page_load_s"] = round(time.perf_counter() - t0, 2)
            before = page.screenshot(path=str(ARTIFACTS / "before.png"), full_page=True)

            per_step = []
            for i in range(1, STEPS + 1):
                t = time.perf_counter()
                step.click()
                page.wait_for_function(  # rAF polling: millisecond resolution
                    "s => document.body.innerText.includes(s[0])"
                    " && document.body.innerText.includes(s[1])",
                    arg=[f"Time: {i}.0", f"Month {i} of 120"], polling="raf", timeout=15_000,
                )
                per_step.append(time.perf_counter() - t)
            expect(counter).to_have_text(f"Time: {STEPS}.0")
            after = page.screenshot(path=str(ARTIFACTS / "after.png"), full_page=True)
            timings["step_s"] = [round(x, 3) for x in per_step]
            timings["step_median_s"] = round(sorted(per_step)[len(per_step) // 2], 3)
            assert before != after, "the page looks the same after the steps"

            # mesa#3516: a seed typed into the page arrives as text; Reset must still work.
            seed = page.get_by_label("Seed")
            seed.fill("7")
            seed.press("Enter")
            page.get_by_role("button", name="Reset", exact=True).click()
            expect(counter).to_have_text("Time: 0.0", timeout=15_000)
            expect(page.get_by_text(re.compile(r"seed 7 "))).to_be_visible(timeout=15_000)
            assert not errors, f"JavaScript errors: {errors}"
            assert not failed, f"requests failed (offline assets incomplete?): {failed}"
        finally:
            browser.close()
    (ARTIFACTS / "timings.json").write_text(json.dumps(timings, indent=1))
    print(f"\nviz browser timings: {timings}")
