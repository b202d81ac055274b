"""Market-data benchmark: candle import and range reads, each beside its bare-COPY ceiling.

    .venv/bin/python bench/marketdata_bench.py [--rows 1000000]

Starts throwaway PostgreSQL and Redis (or uses DATABASE_URL / REDIS_URL), migrates a
fresh database, then measures in one run:
  1. bare COPY of the kline file into an unindexed 12-column table (the ceiling);
  2. `manage.py import_candles` as a whole process into an empty range;
  3. the same import again (0 rows added);
  4. reading one year of 1m candles (525,600) into numpy, beside a bare COPY TO STDOUT.
Targets (issue #2): import >= 200,000 candles/s and >= 0.4 of the ceiling; re-import
>= 100,000 candles/s; read <= 0.5 s and within 2x of the bare COPY.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from central import devstack  # noqa: E402
from marketdata.sample_data import kline_rows  # noqa: E402

DATA_DIR = BASE_DIR / "bench" / ".data"
YEAR_OF_MINUTES = 525_600


def kline_file(rows: int) -> Path:
    path = DATA_DIR / f"BTCUSDT-1m-{rows}.csv"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_bytes(kline_rows(1_577_836_800_000, 60_000, rows, 7_200.0, seed=42))
    return path


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def bare_copy_in(path: Path) -> float:
    from django.db import connection

    connection.ensure_connection()
    with connection.connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_bare_klines")
        cur.execute(
            "CREATE UNLOGGED TABLE bench_bare_klines (open_time int8, open float8, high float8, "
            "low float8, close float8, volume float8, close_time int8, quote_volume float8, "
            "trades int8, taker_base float8, taker_quote float8, ignore float8)"
        )
        connection.connection.commit()

        def copy() -> None:
            with cur.copy("COPY bench_bare_klines FROM STDIN (FORMAT csv)") as out:
                out.write(path.read_bytes())
            connection.connection.commit()

        seconds, _ = timed(copy)
        cur.execute("DROP TABLE bench_bare_klines")
        connection.connection.commit()
    return seconds


def import_process(path: Path, env: dict[str, str]) -> tuple[float, dict]:
    command = [
        sys.executable,
        str(BASE_DIR / "manage.py"),
        "import_candles",
        str(path),
        "--symbol",
        "BTCUSDT",
        "--timeframe",
        "1m",
        "--json",
    ]
    seconds, done = timed(
        lambda: subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    )
    return seconds, json.loads(done.stdout)


def read_year() -> tuple[float, float, int]:
    from django.db import connection

    from marketdata.selectors import OHLCV, candle_arrays, find_series

    series = find_series("BTCUSDT", "1m")
    start = series.first_timestamp
    end = start + __import__("datetime").timedelta(minutes=YEAR_OF_MINUTES)
    candle_arrays(series, start, end, OHLCV)  # warm the cache, as a second read would be

    def bare() -> int:
        size = 0
        with (
            connection.connection.cursor() as cur,
            cur.copy(
                "COPY (SELECT * FROM marketdata_candle WHERE series_id = %s AND timestamp >= %s "
                "AND timestamp < %s ORDER BY timestamp) TO STDOUT",
                (series.pk, start, end),
            ) as copy,
        ):
            for chunk in copy:
                size += len(chunk)
        return size

    bare_seconds = min(timed(bare)[0] for _ in range(3))
    runs = [timed(lambda: candle_arrays(series, start, end, OHLCV)) for _ in range(3)]
    ours = min(seconds for seconds, _ in runs)
    return ours, bare_seconds, len(runs[0][1]["timestamp"])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    path = kline_file(args.rows)
    root = Path(tempfile.mkdtemp(prefix="central-bench-"))
    with devstack.services(root, throwaway=True, redis_port=devstack.free_port()) as urls:
        env = devstack.base_environment({**urls, "DEBUG": "false", "SECRET_KEY": "bench"})
        devstack.manage(env, "migrate", "--no-input", "-v", "0")
        os.environ.update(env)
        os.environ["DJANGO_SETTINGS_MODULE"] = "central.settings"
        import django

        django.setup()
        ceiling = bare_copy_in(path)
        first_seconds, first = import_process(path, env)
        again_seconds, again = import_process(path, env)
        read_seconds, bare_read_seconds, read_rows = read_year()
        from django.db import connection

        connection.close()
    rows = args.rows
    figures = {
        "rows": rows,
        "bare_copy_s": round(ceiling, 3),
        "import_s": round(first_seconds, 3),
        "import_candles_per_s": round(rows / first_seconds),
        "import_ratio_to_bare_copy": round(ceiling / first_seconds, 3),
        "import_inserted": first["inserted"],
        "reimport_s": round(again_seconds, 3),
        "reimport_candles_per_s": round(rows / again_seconds),
        "reimport_inserted": again["inserted"],
        "read_rows": read_rows,
        "read_s": round(read_seconds, 3),
        "bare_copy_out_s": round(bare_read_seconds, 3),
        "read_ratio_to_bare_copy": round(read_seconds / bare_read_seconds, 2),
    }
    checks = {
        "import >= 200k/s": figures["import_candles_per_s"] >= 200_000,
        "import/ceiling >= 0.4": figures["import_ratio_to_bare_copy"] >= 0.4,
        "re-import adds 0": again["inserted"] == 0,
        "re-import >= 100k/s": figures["reimport_candles_per_s"] >= 100_000,
        "read <= 0.5 s": read_seconds <= 0.5,
        "read within 2x of COPY": figures["read_ratio_to_bare_copy"] <= 2.0,
    }
    print(json.dumps(figures, indent=2))
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
