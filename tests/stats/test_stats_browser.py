"""The HTML statistics page in a real headless browser (Debian's chromium, driven over the DevTools
protocol on a pipe): it renders, its numbers match the traffic sent, and the admin form puts a
server in maintenance so that the next requests avoid it."""
from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import time

import pytest
from statlib import http

CONFIG = """
global
    nbthread 2
    stats socket {sock} level admin
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend fe
    bind 127.0.0.1:{p0}
    default_backend be
backend be
    server s1 127.0.0.1:{b0}
    server s2 127.0.0.1:{b1}
listen stats
    bind 127.0.0.1:{p1}
    stats enable
    stats uri /stats
    stats refresh 30s
    stats admin if LOCALHOST
"""


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (apt-get install chromium); .ci/run installs it")


class Browser:
    """Headless chromium with --remote-debugging-pipe: commands on its fd 3, answers on its fd 4,
    JSON messages separated by NUL bytes."""

    def __init__(self, binary: str, profile: str):
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()

        def fds() -> None:
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(3, 4), preexec_fn=fds, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session=True)

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_child], [], [], left)[0]:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self.from_child, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buf += chunk
        raw, _, self.buf = self.buf.partition(b"\0")
        return json.loads(raw)

    def call(self, method: str, session: bool = False, timeout: float = 15.0, **params) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self.to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method: str, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read_message(deadline))

    def navigate(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_event("Page.loadEventFired")

    def js(self, expression: str):
        r = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_child)
        os.close(self.from_child)


@pytest.fixture
def browser(tmp_path):
    b = Browser(chromium_binary(), str(tmp_path / "profile"))
    yield b
    b.close()


ROW = "document.getElementById({id!r})"


def cell(b: Browser, row_id: str, field: str) -> str:
    return b.js(f"{ROW.format(id=row_id)}.querySelector('td.{field}').dataset.value")


def cli(path: str, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out.decode()


def test_page_renders_numbers_and_admin_action(stack, browser, tmp_path):
    sock = str(tmp_path / "admin.sock")
    _, v = stack.start(CONFIG, wait=1, sock=sock)
    for _ in range(7):
        assert http(v["p0"])[0] == 200
    url = f"http://127.0.0.1:{v['p1']}/stats"
    browser.navigate(url)
    assert browser.js("document.title").startswith("Statistics Report")
    assert browser.js("document.querySelectorAll('table.tbl').length") == 3  # fe, be, stats
    assert cell(browser, "fe/FRONTEND", "stot") == "7"
    assert cell(browser, "be/BACKEND", "stot") == "7"
    assert int(cell(browser, "be/s1", "stot")) + int(cell(browser, "be/s2", "stot")) == 7
    assert browser.js(f"{ROW.format(id='be/s1')}.className") == "active_no_check"
    grey = browser.js(f"getComputedStyle({ROW.format(id='be/s1')}).backgroundColor")
    assert grey == "rgb(224, 224, 224)"

    # the admin form: tick s1, choose MAINT, apply; the browser follows the 303 to ;st=DONE
    browser.events.clear()
    browser.js("document.querySelector('#form-be input[name=s][value=s1]').checked = true;"
               "document.querySelector('#form-be select[name=action]').value = 'maint';"
               "document.querySelector('#form-be input[type=submit]').click(); true")
    browser.wait_event("Page.loadEventFired")
    assert browser.js("location.href") == url + ";st=DONE"
    assert "successfully" in browser.js("document.getElementById('action-status').textContent")
    assert browser.js(f"{ROW.format(id='be/s1')}.dataset.status") == "MAINT"
    assert browser.js(f"getComputedStyle({ROW.format(id='be/s1')}).backgroundColor") == "rgb(192, 120, 32)"

    # the next requests avoid s1, in every worker
    answers = {http(v["p0"])[2].split()[0].decode() for _ in range(6)}
    assert answers == {f"srv={v['b1']}"}
    browser.navigate(url)
    assert cell(browser, "fe/FRONTEND", "stot") == "13"
    assert cell(browser, "be/s2", "status") == "no check"

    # a server added at run time is on the page (in maintenance), and the form takes it out
    assert cli(sock, f"add server be/s3 127.0.0.1:{v['b0']}") == "New server registered.\n\n"
    browser.navigate(url)
    assert browser.js(f"{ROW.format(id='be/s3')}.dataset.status") == "MAINT"
    browser.events.clear()
    browser.js("document.querySelector('#form-be input[name=s][value=s3]').checked = true;"
               "document.querySelector('#form-be select[name=action]').value = 'ready';"
               "document.querySelector('#form-be input[type=submit]').click(); true")
    browser.wait_event("Page.loadEventFired")
    assert browser.js("location.href") == url + ";st=DONE"
    assert browser.js(f"{ROW.format(id='be/s3')}.dataset.status") == "no check"
    answers = {http(v["p0"])[2].split()[0].decode() for _ in range(6)}
    assert answers == {f"srv={v['b0']}", f"srv={v['b1']}"}  # s3 (on b0's port) takes traffic again
    browser.navigate(url)
    assert int(cell(browser, "be/s3", "stot")) >= 1
