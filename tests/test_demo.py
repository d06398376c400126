"""`fastlb demo`: the mission's configuration with built-in backends, over real sockets."""
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


def _port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_demo_config_keeps_the_article_file_and_drops_system_settings():
    from fastlb.demo import demo_config

    text = demo_config("/tmp/x", 5000, 8404)
    assert "frontend  main *:5000" in text
    assert "use_backend static          if url_static" in text
    assert "stats socket /tmp/x/stats.sock" in text
    assert "\n    chroot" not in text and "\n    daemon" not in text
    assert "stats uri /stats" in text


def test_demo_serves_the_article_routing(tmp_path):
    ports = [4331, 5001, 5002, 5003, 5004, 18500, 18504]
    if not all(_port_free(p) for p in ports):
        pytest.skip("the demo's fixed backend ports (4331, 5001-5004) are in use on this machine")
    proc = subprocess.Popen([sys.executable, "-m", "fastlb", "demo", "--port", "18500", "--stats-port", "18504"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen("http://127.0.0.1:18500/", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        # round robin: on one connection (one worker), consecutive requests visit app1..app4 in
        # turn, each once per cycle of four (the cycle may start anywhere)
        conn = http.client.HTTPConnection("127.0.0.1", 18500, timeout=5)
        order = []
        for _ in range(12):
            conn.request("GET", "/")
            order.append(conn.getresponse().read().split(b":")[0])
        conn.close()
        assert sorted(order[:4]) == [b"app1", b"app2", b"app3", b"app4"], order
        assert order == order[:4] * 3, order
        for path in ("/static/a", "/images/b", "/x.CSS", "/y.js"):
            assert urllib.request.urlopen(f"http://127.0.0.1:18500{path}", timeout=2).read().startswith(b"static:")
        assert urllib.request.urlopen("http://127.0.0.1:18500/page.html", timeout=2).read().startswith(b"app")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    assert "http://127.0.0.1:18500/" in out and "http://127.0.0.1:18504/stats" in out
