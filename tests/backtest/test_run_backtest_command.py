"""`manage.py run_backtest`: in-process runs saved with their trades and summary."""

import json
from decimal import Decimal
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from backtest import services
from backtest.engine.metrics import METRIC_NAMES
from backtest.engine.types import Bars
from backtest.models import Backtest, PerformanceSummary, RunStatus, Trade
from backtest.runner import run_strategy
from backtest.strategy_templates import template_strategy
from marketdata.selectors import OHLCV, candle_arrays, find_series
from marketdata.timeframes import get_timeframe

pytestmark = pytest.mark.django_db


def run_json(*args: str) -> dict:
    out = StringIO()
    call_command("run_backtest", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_template_run_prints_the_schema_fields_and_saves_everything(hourly_candles):
    summary = run_json(
        "--symbol", "BTCUSDT", "--timeframe", "1h", "--template", "sma_cross",
        "--params", '{"fast": 5, "slow": 20}', "--direction", "both", "--fee", "0.001",
    )  # fmt: skip
    for name in METRIC_NAMES:
        assert name in summary, name
    assert summary["status"] == "completed"
    assert summary["total_trades"] > 5
    assert summary["bars"] == 600
    backtest = Backtest.objects.get(pk=summary["backtest_id"])
    assert backtest.status == RunStatus.COMPLETED and backtest.progress == 100
    assert Trade.objects.filter(backtest=backtest).count() == summary["total_trades"]
    assert PerformanceSummary.objects.get(backtest=backtest).total_trades == summary["total_trades"]
    # The balance is the start plus every trade's net PnL.
    pnl = sum(Trade.objects.filter(backtest=backtest).values_list("pnl", flat=True), Decimal(0))
    assert float(backtest.initial_balance + pnl) == pytest.approx(
        summary["final_balance"], rel=1e-9
    )
    assert 0 <= summary["win_rate"] <= 100
    assert summary["win_rate"] == pytest.approx(
        100 * summary["winning_trades"] / summary["total_trades"]
    )
    assert set(Trade.objects.values_list("side", flat=True)) == {"long", "short"}


def test_saved_results_equal_the_engine_on_the_same_candles(hourly_candles):
    summary = run_json(
        "--symbol", "BTCUSDT", "--timeframe", "1h", "--template", "rsi_reversion",
        "--direction", "long", "--cash", "2500",
    )  # fmt: skip
    backtest = Backtest.objects.get(pk=summary["backtest_id"])
    bars = Bars.from_arrays(candle_arrays(find_series("BTCUSDT", "1h"), fields=OHLCV))
    result = run_strategy(
        bars, backtest.strategy_snapshot, backtest.parameters, get_timeframe("1h").periods_per_year
    )
    assert summary["total_trades"] == len(result.trades)
    # stored to the cent-millionth (8 places), as money columns are
    assert summary["final_balance"] == pytest.approx(result.metrics["final_balance"], abs=1e-8)
    stored = list(Trade.objects.filter(backtest=backtest).values_list("entry_price", flat=True))
    np.testing.assert_allclose([float(p) for p in stored], result.trades.entry_price, rtol=1e-9)
    assert backtest.initial_balance == Decimal("2500")


def test_same_request_gives_the_same_hash_and_results(hourly_candles):
    args = ("--symbol", "BTCUSDT", "--timeframe", "1h", "--template", "ema_cross")
    first, second = run_json(*args), run_json(*args)
    assert first["reproducibility_hash"] == second["reproducibility_hash"]
    assert first["final_balance"] == second["final_balance"]
    other = run_json(*args, "--fee", "0.002")
    assert other["reproducibility_hash"] != first["reproducibility_hash"]


def test_saved_strategy_by_id(hourly_candles):
    owner = services.cli_user()
    definition = template_strategy("macd_cross", None)
    strategy = services.create_strategy(
        owner,
        name="my macd",
        config=definition["config"],
        entry_rules=definition["entry_rules"],
        exit_rules=definition["exit_rules"],
    )
    summary = run_json("--symbol", "btc/usdt", "--timeframe", "1h", "--strategy", str(strategy.pk))
    assert summary["status"] == "completed"
    assert summary["strategy"] == "my macd" and summary["strategy_id"] == strategy.pk


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--template", "sma_cross", "--params", '{"fast": 0}'), "fast"),
        (("--template", "sma_cross", "--params", "{nope"), "params"),
        (("--template", "no_such_thing"), "template"),
        (("--template", "sma_cross", "--fee", "-0.1"), "fee"),
        (("--template", "sma_cross", "--symbol", "ETHUSDT"), "ETHUSDT"),
        (("--template", "sma_cross", "--timeframe", "7m"), "timeframe"),
        (("--strategy", "999999"), "strategy"),
    ],
)
def test_bad_input_names_the_parameter_and_writes_nothing(hourly_candles, args, named):
    base = {"--symbol": "BTCUSDT", "--timeframe": "1h"}
    given = dict(zip(args[::2], args[1::2], strict=True))
    merged = [item for pair in {**base, **given}.items() for item in pair]
    out = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("run_backtest", *merged, "--json", stdout=out)
    assert named in str(caught.value)
    assert named in json.loads(out.getvalue())["error"]
    assert Backtest.objects.count() == 0


def test_a_range_shorter_than_the_warm_up_is_refused_before_anything_is_written(
    hourly_candles,
):
    with pytest.raises(CommandError) as caught:
        call_command(
            "run_backtest", "--symbol", "BTCUSDT", "--timeframe", "1h", "--template", "sma_cross",
            "--params", '{"slow": 50}', "--start", "2024-01-01", "--end", "2024-01-02",
            stdout=StringIO(),
        )  # fmt: skip
    assert "start the range holds 24 bars; this strategy needs at least 52" in str(caught.value)
    assert not Backtest.objects.exists()


def test_a_window_longer_than_all_the_data_names_the_parameters(hourly_candles):
    with pytest.raises(CommandError, match="parameters the range holds 600 bars"):
        call_command(
            "run_backtest", "--symbol", "BTCUSDT", "--timeframe", "1h", "--template", "sma_cross",
            "--params", '{"slow": 5000}', stdout=StringIO(),
        )  # fmt: skip
    assert not Backtest.objects.exists()


def test_plain_output_is_readable(hourly_candles):
    out = StringIO()
    call_command(
        "run_backtest", "--symbol", "BTCUSDT", "--timeframe", "1h", "--template", "sma_cross",
        stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    assert "completed" in text and "600 bars" in text and "final balance" in text


def test_an_inactive_strategy_does_not_run(hourly_candles):
    definition = template_strategy("sma_cross", None)
    strategy = services.create_strategy(
        services.cli_user(),
        name="retired",
        config=definition["config"],
        entry_rules=definition["entry_rules"],
        exit_rules=definition["exit_rules"],
        is_active=False,
    )
    with pytest.raises(CommandError, match="inactive"):
        call_command(
            "run_backtest", "--symbol", "BTCUSDT", "--timeframe", "1h",
            "--strategy", str(strategy.pk), stdout=StringIO(),
        )  # fmt: skip
    assert not Backtest.objects.exists()
