"""The platform's own Prometheus metrics, and who may read `/metrics`.

Web and worker processes are separate, so nothing here lives in one process's memory:
every value is read at scrape time from what all processes share.

- `collector.PlatformCollector` queries PostgreSQL (runs by status, run durations over
  a recent window, the candle catalogue, sync lag) and Redis (Celery queue lengths, the
  Binance counters) once per scrape.
- `binance` is the only write path: the workers' Binance clients record each response's
  status and `X-MBX-USED-WEIGHT-1M` in one Redis hash.
- `access` is the `/metrics` view: the django-prometheus registry, served only to an
  allowed network or a bearer token.

`prometheus_client`'s multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`) is therefore not
needed, and not supported: it would replace the registry this collector is part of.
"""
