"""What a run writes: trades by COPY, the summary columns, the curve."""

from decimal import Decimal

import pytest

from backtest import persistence
from backtest.models import Trade

pytestmark = pytest.mark.django_db


def test_a_metric_too_large_for_its_column_is_left_to_the_json():
    assert persistence._column_value("sharpe_ratio", 1.25) == Decimal("1.25")
    assert persistence._column_value("sharpe_ratio", 3e14) is None  # numeric(20, 6)
    assert persistence._column_value("total_trades", 12) == 12
    assert persistence._column_value("profit_factor", None) is None


def test_summary_columns_are_the_design_schema():
    assert persistence.SUMMARY_COLUMNS == (
        "total_trades", "winning_trades", "losing_trades", "win_rate", "profit_factor",
        "max_drawdown", "max_drawdown_percentage", "sharpe_ratio", "sortino_ratio",
        "total_pnl", "total_pnl_percentage", "average_win", "average_loss", "largest_win",
        "largest_loss",
    )  # fmt: skip


def test_trade_quantities_hold_a_large_balance_in_a_tiny_priced_coin():
    field = Trade._meta.get_field("quantity")
    assert Decimal(10) ** (field.max_digits - field.decimal_places) > Decimal("1e12") / Decimal(
        "1e-8"
    )
