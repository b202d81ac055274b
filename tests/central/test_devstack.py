"""`make run`'s engine, end to end: embedded PostgreSQL and Redis, migrate, demo data,
web server, worker and beat; Ctrl-C stops everything; a second start keeps the data."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _health(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/", timeout=5) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Platform:
    def __init__(self, state_dir: Path, log: Path):
        self.web_port, self.redis_port = _free_port(), _free_port()
        # As from a fresh shell: none of the variables `make test` exported for the suite.
        suite_only = {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "STATIC_ROOT"}
        env = {k: v for k, v in os.environ.items() if k not in suite_only}
        env.update(
            {
                "CENTRAL_STATE_DIR": str(state_dir),
                "EMBEDDED_REDIS_PORT": str(self.redis_port),
                "STATIC_ROOT": str(state_dir / "static"),
            }
        )
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "central.devstack", "run", "--port", str(self.web_port)],
            cwd=BASE_DIR,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, timeout: float = 180) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            status = _health(self.web_port)
            if status == 200:
                return time.monotonic() - started
            assert status in (None, 503), f"health answered {status}"
            time.sleep(0.5)
        raise AssertionError(f"not healthy in {timeout} s:\n{self.log.read_text()[-3000:]}")

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(60)


@pytest.fixture
def state_dir():
    """Outside pytest's private tmp tree: the database server runs as another user."""
    path = Path(tempfile.mkdtemp(prefix="central-run-"))
    yield path / "state"
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.timeout(600)
def test_run_starts_everything_stops_cleanly_and_keeps_data(state_dir, tmp_path):
    state = state_dir
    first = Platform(state, tmp_path / "first.log")
    try:
        first_start = first.wait_healthy()
        with urllib.request.urlopen(
            f"http://127.0.0.1:{first.web_port}/api/schema/?format=json", timeout=10
        ) as reply:
            assert "/api/market-data/symbols/" in json.load(reply)["paths"]
    finally:
        status = first.interrupt()
    log = (tmp_path / "first.log").read_text()
    assert status == 0, log[-3000:]
    assert "demo operator user: operator /" in log and "demo analyst  user: analyst /" in log
    assert "8784 new" in log
    assert "export DEBUG=true DATABASE_URL=" in log
    assert not _port_open(first.web_port) and not _port_open(first.redis_port)
    leftovers = subprocess.run(["pgrep", "-f", str(state)], capture_output=True, text=True)
    remaining = leftovers.stdout.split()
    details = subprocess.run(
        ["ps", "-o", "pid,args", "-p", ",".join(remaining) or "0"], capture_output=True, text=True
    ).stdout
    assert not remaining, f"processes of the stopped platform remain:\n{details}"

    second = Platform(state, tmp_path / "second.log")
    try:
        second_start = second.wait_healthy()
    finally:
        assert second.interrupt() == 0
    log = (tmp_path / "second.log").read_text()
    assert "operator (exists; password as set)" in log and "0 new, 8784 already stored" in log
    assert second_start < 60, f"second start took {second_start:.0f} s"
    assert first_start > 0
