"""Central's platform metrics, computed from shared state each time Prometheus scrapes.

Counting in process memory would drift and split: runs finish in worker processes and
are scraped from web processes, and a restart would forget. So every figure is read
from what all processes share, at a cost of a few small queries per scrape:

- runs by status: one GROUP BY per kind of run (backtests, replays, sweeps, syncs);
- run durations: a *gauge histogram* of the runs that finished within the last
  `METRICS_DURATION_WINDOW_SECONDS`, from their started/finished times (one query per
  kind). It is a gauge, not a counter, because runs leave the window (and the admin
  purges old ones): read it as it is, e.g.
  `histogram_quantile(0.95, sum by (le) (central_backtest_duration_seconds_bucket))`,
  without `rate()`;
- candles stored and sync lag: from the series catalogue (`CandleSeries`), which keeps
  each series' count and last candle, and the enabled watched symbols;
- Celery queue lengths: `LLEN` of each queue's lists in the Redis broker (the admin's
  queue page reads them the same way, `central.queue_status.queue_depths`);
- Binance: the counters the workers' clients keep in Redis (`central.metrics.binance`);
- market streams: the state row each `stream_market` process keeps (`MarketStream`), one
  query. The row's counters are stored figures that restart at zero with the process, so
  they are exported as gauges; last-message age is computed here, because a process that
  died without a clean stop leaves its row saying "connected" and only the age shows it.

A section that fails (database or Redis down) is skipped and reported by
`central_metrics_section_up{section=...} 0`; the others are still served.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import (
    REGISTRY,
    CollectorRegistry,
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from central.metrics import binance

logger = logging.getLogger(__name__)

# Seconds. From a quick backtest to an hour-long sweep cell or a year of 1m candles.
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)
_SPEC: dict[str, tuple[type[Metric], str, tuple[str, ...]]] = {
    "central_backtests": (GaugeMetricFamily, "Backtests by status.", ("status",)),
    "central_replays": (GaugeMetricFamily, "Replay runs by status.", ("status",)),
    "central_sweeps": (GaugeMetricFamily, "Parameter sweeps by status.", ("status",)),
    "central_sync_runs": (GaugeMetricFamily, "Market-data sync runs by status.", ("status",)),
    "central_backtest_duration_seconds": (
        GaugeHistogramMetricFamily,
        "Run time (started to finished) of backtests finished within the window.",
        ("status",),
    ),
    "central_replay_duration_seconds": (
        GaugeHistogramMetricFamily,
        "Run time (started to finished) of replays finished within the window.",
        ("status",),
    ),
    "central_sync_duration_seconds": (
        GaugeHistogramMetricFamily,
        "Run time (started to finished) of market-data syncs finished within the window.",
        ("status",),
    ),
    "central_run_duration_window_seconds": (
        GaugeMetricFamily,
        "How far back the run duration histograms look (METRICS_DURATION_WINDOW_SECONDS).",
        (),
    ),
    "central_candles_stored": (
        GaugeMetricFamily,
        "Candles stored per series (from the series catalogue).",
        ("source", "symbol", "timeframe"),
    ),
    "central_market_sync_lag_seconds": (
        GaugeMetricFamily,
        "Now minus the close time of the series' last stored candle; watched=true for "
        "series an enabled watched symbol keeps in sync.",
        ("source", "symbol", "timeframe", "watched"),
    ),
    "central_celery_queue_length": (
        GaugeMetricFamily,
        "Messages waiting in each Celery queue of the Redis broker.",
        ("queue",),
    ),
    "central_binance_responses": (
        CounterMetricFamily,
        "Binance REST responses seen by Central's clients.",
        (),
    ),
    "central_binance_rate_limited": (
        CounterMetricFamily,
        "Binance responses refusing for rate limits: 429 (over the limit), 418 (IP banned).",
        ("code",),
    ),
    "central_binance_used_weight_1m": (
        GaugeMetricFamily,
        "Request weight used in the current minute, as Binance last reported it "
        "(X-MBX-USED-WEIGHT-1M).",
        (),
    ),
    "central_binance_weight_seen_timestamp_seconds": (
        GaugeMetricFamily,
        "When central_binance_used_weight_1m was reported (Unix time).",
        (),
    ),
    "central_binance_weight_limit": (
        GaugeMetricFamily,
        "The request weight per minute Central's clients stay under (BINANCE_WEIGHT_LIMIT).",
        (),
    ),
    "central_market_stream_connected": (
        GaugeMetricFamily,
        "1 if the market stream process reports itself connected (receiving candles), else 0.",
        ("stream",),
    ),
    "central_market_stream_state": (
        GaugeMetricFamily,
        "1 for the state the market stream process last reported, 0 for the others.",
        ("stream", "state"),
    ),
    "central_market_stream_last_message_age_seconds": (
        GaugeMetricFamily,
        "Now minus the last message the market stream recorded (absent before its first).",
        ("stream",),
    ),
    "central_market_stream_reconnects": (
        GaugeMetricFamily,
        "Reconnections of the market stream since its process started.",
        ("stream",),
    ),
    "central_market_stream_malformed_frames": (
        GaugeMetricFamily,
        "Frames the market stream ignored (not JSON, not a kline, not asked for) since its "
        "process started.",
        ("stream",),
    ),
    "central_metrics_section_up": (
        GaugeMetricFamily,
        "1 if a section of the platform metrics could be read at this scrape, else 0.",
        ("section",),
    ),
}


def _family(name: str) -> Metric:
    kind, documentation, labels = _SPEC[name]
    return kind(name, documentation, labels=labels)


class PlatformCollector(Collector):
    """Reads the platform's state at each scrape; registered once per registry."""

    def describe(self) -> Iterable[Metric]:
        # Names only: the registry checks them for clashes without running the queries.
        return [_family(name) for name in _SPEC]

    def collect(self) -> Iterator[Metric]:
        sections: dict[str, Callable[[], list[Metric]]] = {
            "runs": self._runs_by_status,
            "durations": self._durations,
            "market": self._market,
            "queues": self._queues,
            "binance": self._binance,
            "streams": self._streams,
        }
        up = _family("central_metrics_section_up")
        for section, read in sections.items():
            try:
                families = read()
            except Exception:  # a scrape must still serve the sections that work
                logger.warning("metrics section %s could not be read", section, exc_info=True)
                up.add_metric([section], 0)
                continue
            up.add_metric([section], 1)
            yield from families
        yield up

    # --- sections ----------------------------------------------------------------------

    def _runs_by_status(self) -> list[Metric]:
        from backtest.models import Backtest, RunStatus, Sweep
        from marketdata.models import SyncRun
        from replay.models import ReplayRun

        kinds = (
            ("central_backtests", Backtest, RunStatus),
            ("central_replays", ReplayRun, RunStatus),
            ("central_sweeps", Sweep, RunStatus),
            ("central_sync_runs", SyncRun, SyncRun.Status),
        )
        families = []
        for name, model, statuses in kinds:
            counts = dict.fromkeys(statuses.values, 0)  # a status with no runs shows 0
            rows = model.objects.order_by().values_list("status").annotate(n=Count("pk"))
            counts.update(dict(rows))
            family = _family(name)
            for status, count in sorted(counts.items()):
                family.add_metric([status], count)
            families.append(family)
        return families

    def _durations(self) -> list[Metric]:
        from backtest.models import Backtest
        from marketdata.models import SyncRun
        from replay.models import ReplayRun

        window = settings.METRICS_DURATION_WINDOW_SECONDS
        since = timezone.now() - timedelta(seconds=window)
        families = []
        for name, model in (
            ("central_backtest_duration_seconds", Backtest),
            ("central_replay_duration_seconds", ReplayRun),
            ("central_sync_duration_seconds", SyncRun),
        ):
            family = _family(name)
            for status, count, total, cumulative in _finished_run_durations(model, since):
                bounds = zip(DURATION_BUCKETS, cumulative, strict=True)
                buckets = [(str(float(le)), n) for le, n in bounds]
                family.add_metric([status], [*buckets, ("+Inf", count)], total)
            families.append(family)
        window_family = _family("central_run_duration_window_seconds")
        window_family.add_metric([], window)
        return [*families, window_family]

    def _market(self) -> list[Metric]:
        from marketdata.models import DEFAULT_SOURCE, CandleSeries, WatchedSymbol
        from marketdata.sync import next_open, to_ms
        from marketdata.timeframes import get_timeframe

        watched = set(
            WatchedSymbol.objects.filter(is_enabled=True).values_list("symbol__name", "timeframe")
        )
        stored, lag = _family("central_candles_stored"), _family("central_market_sync_lag_seconds")
        now_ms = to_ms(timezone.now())
        series = CandleSeries.objects.order_by("symbol__name", "timeframe", "source").values_list(
            "source", "symbol__name", "timeframe", "candle_count", "last_timestamp"
        )
        for source, symbol, timeframe, count, last in series:
            stored.add_metric([source, symbol, timeframe], count)
            if last is None:
                continue
            closed_ms = next_open(to_ms(last), get_timeframe(timeframe))
            is_watched = source == DEFAULT_SOURCE and (symbol, timeframe) in watched
            lag.add_metric(
                [source, symbol, timeframe, "true" if is_watched else "false"],
                max(0, now_ms - closed_ms) / 1000,
            )
        return [stored, lag]

    def _queues(self) -> list[Metric]:
        from central.queue_status import queue_depths  # shared with the admin's queue page

        depths = queue_depths()
        if any(depth is None for depth in depths.values()):
            raise ConnectionError("the Celery broker could not be reached")
        family = _family("central_celery_queue_length")
        for queue, depth in depths.items():
            family.add_metric([queue], depth)
        return [family]

    def _binance(self) -> list[Metric]:
        figures = binance.read_figures()
        responses = _family("central_binance_responses")
        responses.add_metric([], figures.responses)
        limited = _family("central_binance_rate_limited")
        for code, count in sorted(figures.rate_limited.items()):
            limited.add_metric([str(code)], count)
        limit = _family("central_binance_weight_limit")
        limit.add_metric([], settings.BINANCE_WEIGHT_LIMIT)
        families = [responses, limited, limit]
        if figures.used_weight_1m is not None:
            weight = _family("central_binance_used_weight_1m")
            weight.add_metric([], figures.used_weight_1m)
            seen = _family("central_binance_weight_seen_timestamp_seconds")
            seen.add_metric([], figures.weight_seen_at or 0)
            families += [weight, seen]
        return families

    def _streams(self) -> list[Metric]:
        from marketdata.models import MarketStream
        from marketdata.selectors import stream_states

        connected = _family("central_market_stream_connected")
        states = _family("central_market_stream_state")
        age = _family("central_market_stream_last_message_age_seconds")
        reconnects = _family("central_market_stream_reconnects")
        malformed = _family("central_market_stream_malformed_frames")
        now = timezone.now()
        rows = stream_states().values_list(
            "name", "state", "last_message_at", "reconnects", "malformed"
        )
        for name, state, last_message_at, reconnect_count, malformed_count in rows:
            connected.add_metric([name], 1 if state == MarketStream.State.CONNECTED else 0)
            # Every state, 0 or 1, so a panel or alert sees a stream leave a state too.
            for choice in MarketStream.State.values:
                states.add_metric([name, choice], 1 if choice == state else 0)
            if last_message_at is not None:
                age.add_metric([name], max(0.0, (now - last_message_at).total_seconds()))
            reconnects.add_metric([name], reconnect_count)
            malformed.add_metric([name], malformed_count)
        return [connected, states, age, reconnects, malformed]


def _finished_run_durations(model, since) -> list[tuple[str, int, float, list[int]]]:
    """(status, runs, total seconds, cumulative runs per bucket) of the runs that
    finished since `since`, in one query."""
    table = connection.ops.quote_name(model._meta.db_table)
    per_bucket = ", ".join("count(*) FILTER (WHERE seconds <= %s)" for _ in DURATION_BUCKETS)
    sql = f"""
        SELECT status, count(*), coalesce(sum(seconds), 0), {per_bucket}
        FROM (
            SELECT status, extract(epoch FROM finished_at - started_at) AS seconds
            FROM {table}
            WHERE finished_at >= %s AND started_at IS NOT NULL
        ) AS finished
        GROUP BY status ORDER BY status
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*DURATION_BUCKETS, since])
        rows = cursor.fetchall()
    return [
        (status, count, float(total), [int(n) for n in cumulative])
        for status, count, total, *cumulative in rows
    ]


_lock = threading.Lock()
_registered: weakref.WeakSet[CollectorRegistry] = weakref.WeakSet()


def register_platform_collector(registry: CollectorRegistry = REGISTRY) -> None:
    """Add the collector to `registry` unless it is there already (AppConfig.ready runs
    once per process, but tests and reloaders may call it again)."""
    with _lock:
        if registry in _registered:
            return
        registry.register(PlatformCollector())
        _registered.add(registry)
