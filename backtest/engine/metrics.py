"""Summary metrics of a backtest, computed with vectorised numpy.

`compute_metrics(bars, trades, equity, config)` returns a flat dict of plain Python
numbers. Every value is JSON-safe: a metric that is undefined (division by zero, too
few values) is None, never NaN or infinity.

Notation: C is the initial cash (`config.cash`), E_t the equity at bar t's close
(t = 0..n-1), P_t = max(C, E_0..E_t) the running peak (the account starts at C), and
r_t = E_t / E_(t-1) - 1 the per-bar return, with E_(-1) = C, so there are n returns.
Annualisation uses `config.periods_per_year` (bars per 365-day year); a year is 365
days of 86 400 s. "pnl" is a closed trade's profit net of both fees.

Account
    final_balance = E_(n-1) (C when there are no bars).
    total_pnl = final_balance - C; total_pnl_percentage = total_pnl / C * 100.
    max_drawdown = max_t (P_t - E_t), in money; max_drawdown_percentage =
    max_t (P_t - E_t) / P_t * 100. Each is its own maximum: the largest loss in money
    and the largest loss in percent can happen at different times.
    cagr = ((final_balance / C) ^ (1 / years) - 1) * 100, years = (last bar's timestamp
    - first bar's timestamp) / 365 days; None with fewer than two distinct timestamps
    or when the figure overflows (a large gain over a very short span); -100 when
    final_balance <= 0.
    annualized_volatility = std(r, ddof=1) * sqrt(periods_per_year) * 100.
    sharpe_ratio = mean(r) / std(r, ddof=1) * sqrt(periods_per_year), risk-free rate 0.
    sortino_ratio = mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(periods_per_year).
    calmar_ratio = cagr / max_drawdown_percentage.
    The return-based metrics are None with fewer than two bars or when equity was zero
    or below before the last bar (a return from there is undefined); sharpe_ratio is None when the
    volatility is zero, sortino_ratio when no return is negative, calmar_ratio when
    there was no drawdown.
    exposure_percentage = share of bars from a trade's entry bar to its exit bar,
    both included, * 100 (0 without trades).
    buy_and_hold_return = (last close / first close - 1) * 100.

Trades
    total_trades, long_trades, short_trades: counts of closed trades (a position still
    open at the end is closed by the simulator with reason "end_of_data", so it counts).
    winning_trades: pnl > 0; losing_trades: pnl < 0 (a trade at exactly 0 is neither).
    win_rate = winning_trades / total_trades * 100.
    profit_factor = sum of winning pnl / |sum of losing pnl|; None when there is no
    losing trade (it would be infinite).
    average_win / average_loss: mean pnl of winning / losing trades (average_loss is
    negative); largest_win: the best winning pnl; largest_loss: the worst losing pnl.
    expectancy = mean pnl per trade, in money.
    sqn (System Quality Number, on money pnl) = sqrt(total_trades) * mean(pnl) /
    std(pnl, ddof=1); None with fewer than two trades or zero spread.
    kelly_criterion = W - (1 - W) / R, with W = winning_trades / total_trades and
    R = average_win / |average_loss|; None without both a win and a loss.
    average_trade_duration_seconds / max_trade_duration_seconds: exit bar's timestamp
    minus entry bar's timestamp.
    fees_paid: all entry and exit fees.
    Without trades, the counts are 0, fees_paid is 0.0 and the other trade metrics are
    None.
"""

from __future__ import annotations

import math

import numpy as np

from backtest.engine.types import Bars, EngineConfig, TradeLog

_YEAR_US = 365 * 86_400 * 1_000_000
# Every key compute_metrics returns, in its order.
METRIC_NAMES: tuple[str, ...] = (
    "final_balance",
    "total_pnl",
    "total_pnl_percentage",
    "max_drawdown",
    "max_drawdown_percentage",
    "cagr",
    "annualized_volatility",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "exposure_percentage",
    "buy_and_hold_return",
    "total_trades",
    "long_trades",
    "short_trades",
    "winning_trades",
    "losing_trades",
    "win_rate",
    "profit_factor",
    "average_win",
    "average_loss",
    "largest_win",
    "largest_loss",
    "expectancy",
    "sqn",
    "kelly_criterion",
    "average_trade_duration_seconds",
    "max_trade_duration_seconds",
    "fees_paid",
)


def compute_metrics(
    bars: Bars, trades: TradeLog, equity: np.ndarray, config: EngineConfig
) -> dict[str, float | int | None]:
    """All summary metrics of one run; see the module docstring for the formulas."""
    return {
        **_account_metrics(bars, trades, equity, config),
        **_trade_metrics(bars, trades),
    }


def _number(value: float) -> float | None:
    """A float, or None where it is NaN or infinite (not JSON)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _ratio(numerator: float, denominator: float) -> float | None:
    return _number(numerator / denominator) if denominator != 0 else None


def running_peak(equity: np.ndarray, initial: float) -> np.ndarray:
    """The highest equity so far at each bar, the starting balance included: drawdowns
    (here, in the simulator's limits and on the equity chart) are measured from it."""
    return np.maximum(np.maximum.accumulate(equity), initial) if len(equity) else np.empty(0)


def _account_metrics(
    bars: Bars, trades: TradeLog, equity: np.ndarray, config: EngineConfig
) -> dict[str, float | int | None]:
    cash = config.cash
    n = len(equity)
    final = float(equity[-1]) if n else cash
    peak = running_peak(equity, cash)
    loss = peak - equity
    max_drawdown = float(loss.max()) if n else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        max_drawdown_percentage = float(np.max(loss / peak)) * 100 if n else 0.0

    volatility = sharpe = sortino = None
    if n >= 2 and cash > 0 and equity[:-1].min() > 0:
        returns = np.empty(n)
        returns[0] = equity[0] / cash
        np.divide(equity[1:], equity[:-1], out=returns[1:])
        returns -= 1.0
        mean = returns.mean()
        std = returns.std(ddof=1)
        root_periods = math.sqrt(config.periods_per_year)
        volatility = _number(std * root_periods * 100)
        sharpe = _ratio(mean * root_periods, std)
        downside = math.sqrt(np.mean(np.minimum(returns, 0.0) ** 2))
        sortino = _ratio(mean * root_periods, downside)

    cagr = None
    if n and (years := (int(bars.timestamp[-1]) - int(bars.timestamp[0])) / _YEAR_US) > 0:
        with np.errstate(over="ignore"):  # a short run can overflow: None below
            growth = np.float64(final / cash) ** (1 / years) if final > 0 else 0.0
        cagr = _number((growth - 1) * 100)

    return {
        "final_balance": final,
        "total_pnl": final - cash,
        "total_pnl_percentage": (final - cash) / cash * 100,
        "max_drawdown": max_drawdown,
        "max_drawdown_percentage": _number(max_drawdown_percentage),
        "cagr": cagr,
        "annualized_volatility": volatility,
        "sharpe_ratio": sharpe,
        "sortino_ratio": sortino,
        "calmar_ratio": _ratio(cagr, max_drawdown_percentage) if cagr is not None else None,
        "exposure_percentage": _exposure_percentage(n, trades),
        "buy_and_hold_return": (
            _ratio((bars.close[-1] - bars.close[0]) * 100, bars.close[0]) if n else None
        ),
    }


def _exposure_percentage(n: int, trades: TradeLog) -> float:
    if not n or not len(trades):
        return 0.0
    # Merge the [entry, exit] intervals in entry order: each adds only the bars after
    # everything covered so far (a reversal's shared bar counts once).
    order = np.argsort(trades.entry_index, kind="stable")
    entry = trades.entry_index[order]
    exit_ = trades.exit_index[order]
    covered_until = np.concatenate(([-1], np.maximum.accumulate(exit_)[:-1]))
    new_bars = exit_ - np.maximum(entry, covered_until + 1) + 1
    return float(np.clip(new_bars, 0, None).sum()) / n * 100


def _trade_metrics(bars: Bars, trades: TradeLog) -> dict[str, float | int | None]:
    pnl = trades.pnl
    total = len(pnl)
    wins = pnl[pnl > 0]
    losses = pnl[pnl < 0]
    gross_loss = float(-losses.sum())
    average_win = _number(wins.mean()) if len(wins) else None
    average_loss = _number(losses.mean()) if len(losses) else None
    kelly = None
    if average_win is not None and average_loss is not None:
        win_fraction = len(wins) / total
        kelly = _number(win_fraction - (1 - win_fraction) / (average_win / -average_loss))
    sqn = None
    if total >= 2:
        sqn = _ratio(math.sqrt(total) * pnl.mean(), pnl.std(ddof=1))
    durations = (bars.timestamp[trades.exit_index] - bars.timestamp[trades.entry_index]) / 1e6

    return {
        "total_trades": total,
        "long_trades": int(np.count_nonzero(trades.side > 0)),
        "short_trades": int(np.count_nonzero(trades.side < 0)),
        "winning_trades": len(wins),
        "losing_trades": len(losses),
        "win_rate": len(wins) / total * 100 if total else None,
        "profit_factor": _ratio(float(wins.sum()), gross_loss) if gross_loss else None,
        "average_win": average_win,
        "average_loss": average_loss,
        "largest_win": _number(wins.max()) if len(wins) else None,
        "largest_loss": _number(losses.min()) if len(losses) else None,
        "expectancy": _number(pnl.mean()) if total else None,
        "sqn": sqn,
        "kelly_criterion": kelly,
        "average_trade_duration_seconds": _number(durations.mean()) if total else None,
        "max_trade_duration_seconds": _number(durations.max()) if total else None,
        "fees_paid": float(trades.fees.sum()),
    }
