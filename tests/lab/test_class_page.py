"""The class page in a real browser: three small labs up (lb1 + one etcd member each), `halab
class serve` on loopback, headless Chromium (Debian's, driven by Playwright) sees three rows;
`halab halt` of one lab's master changes that row within 10 s, without a reload (server-sent
events). Screenshots go to the test's tmp_path; UPDATE_SCREENSHOT=1 copies one to
docs/img/class-page.png.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from labcli import halab, halab_together, lab_objects, small_topology
from labfiles import ROOT

# The row changes from the page's state loop (the provider's view, no SSH), so a round of
# probes that waits on the master being halted does not hold the change back.
pytestmark = pytest.mark.lab

LABS = {"cls-a": "10.176.41", "cls-b": "10.176.42", "cls-c": "10.176.43"}
CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("classpage")
    files = {}
    for name, subnet in LABS.items():
        files[name] = d / f"{name}.yaml"
        files[name].write_text(small_topology(name, subnet, "class page test"))
    try:
        ups = halab_together({n: ["up", str(f)] for n, f in files.items()})
        for name, (code, out) in ups.items():
            assert code == 0, f"{name}: {out[-3000:]}"
        yield list(LABS)
    finally:
        for name in LABS:
            if lab_objects(name):
                halab("down", name, "--yes")


@pytest.fixture(scope="module")
def page_url(labs):
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "halab.cli", "class", "serve", "--port",
                               str(port), "--interval", "1"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            print(server.communicate(timeout=60)[0])
        except subprocess.TimeoutExpired:
            server.kill()
            print(server.communicate(timeout=10)[0])
            pytest.fail("`halab class serve` did not stop within 60 s of SIGTERM")


@pytest.fixture(scope="module")
def browser(page_url):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make deps` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


def test_three_rows_then_a_halted_master_shows_within_10s(labs, page_url, browser,
                                                          tmp_path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 560})
    page.goto(page_url)
    rows = page.locator("tbody#labs tr")
    assert rows.count() >= 3
    for name in labs:
        row = page.locator(f"#row-{name}")
        row.wait_for(timeout=10_000)
        assert row.get_attribute("data-running") == "2/2", row.inner_text()
    page.wait_for_function("document.querySelectorAll('#labs .leader').length >= 3",
                           timeout=15_000)
    page.screenshot(path=str(tmp_path / "class-page-up.png"), full_page=True)

    assert halab("halt", "--lab", "cls-b", "master1").returncode == 0
    halted = time.monotonic()
    page.wait_for_function(
        "document.querySelector('#row-cls-b').dataset.running === '1/2'", timeout=10_000)
    took = time.monotonic() - halted
    row = page.locator("#row-cls-b").inner_text()
    assert "no leader" in row, row
    print(f"the halted master showed on the page {took:.1f}s after `halab halt` returned")
    shot = tmp_path / "class-page.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("UPDATE_SCREENSHOT"):
        shutil.copy(shot, ROOT / "docs" / "img" / "class-page.png")
    page.goto(page_url + "lab/cls-b")
    assert "halted" in page.locator(".diagram").inner_text()
    page.screenshot(path=str(tmp_path / "class-page-lab.png"), full_page=True)
