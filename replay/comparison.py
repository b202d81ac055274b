"""A trader's real fills against a strategy's signals: which trades followed a signal,
which signals the trader missed, and how early or late they were.

Pure numpy, no Django. Times are integer microseconds since the epoch (as in
`replay.replaying`), sides are +1 (buy) and -1 (sell).

A backtest's trades become signals: a long trade is a buy at its entry and a sell at its
exit; a short trade the other way round. A real fill matches a signal of the same side
whose time is within `tolerance` of it, either way. Each fill matches at most one signal
and each signal at most one fill; among the candidate pairs the closest in time are
paired first (ties: the earlier signal, then the earlier fill), so the pairing does not
depend on the order the rows came in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BUY, SELL = 1, -1
ENTRY, EXIT = 0, 1


@dataclass(frozen=True)
class Signals:
    """The strategy's decisions: one row per entry or exit of a backtest trade."""

    time: np.ndarray  # int64 microseconds
    side: np.ndarray  # int8, BUY or SELL
    kind: np.ndarray  # int8, ENTRY or EXIT
    trade: np.ndarray  # int64, index of the backtest trade it belongs to

    def __len__(self) -> int:
        return len(self.time)


def signals_from_trades(
    entry_time: np.ndarray,
    exit_time: np.ndarray,
    is_long: np.ndarray,
) -> Signals:
    """Entries and exits of backtest trades as signals, in time order. A trade still
    open at the end of the backtest (exit time NaT, given as a negative number) has
    only its entry."""
    count = len(entry_time)
    entry_side = np.where(is_long, BUY, SELL).astype(np.int8)
    closed = exit_time >= 0
    time = np.concatenate([entry_time, exit_time[closed]]).astype(np.int64)
    side = np.concatenate([entry_side, -entry_side[closed]]).astype(np.int8)
    kind = np.concatenate(
        [np.full(count, ENTRY, np.int8), np.full(int(closed.sum()), EXIT, np.int8)]
    )
    trade = np.concatenate([np.arange(count), np.flatnonzero(closed)]).astype(np.int64)
    order = np.lexsort((kind, time))
    return Signals(time[order], side[order], kind[order], trade[order])


@dataclass(frozen=True)
class Matching:
    """Pairs (fill index, signal index) and what was left on each side."""

    fill: np.ndarray  # int64 indexes into the fills, one per pair
    signal: np.ndarray  # int64 indexes into the signals, one per pair
    delay: np.ndarray  # int64 microseconds: fill time minus signal time (>0: late)
    unmatched_fills: np.ndarray  # fills no signal explains
    missed_signals: np.ndarray  # signals no fill followed


def match_fills(
    fill_time: np.ndarray,
    fill_side: np.ndarray,
    signals: Signals,
    tolerance: int,
) -> Matching:
    """Pair fills with signals of the same side within `tolerance` microseconds, the
    closest pairs first. Candidates come from one searchsorted per side, not a scan of
    every pair."""
    if tolerance < 0:
        raise ValueError("tolerance must not be negative")
    fill_time = np.asarray(fill_time, np.int64)
    fill_side = np.asarray(fill_side, np.int8)
    pairs_fill, pairs_signal = [], []
    for side in (BUY, SELL):
        fills = np.flatnonzero(fill_side == side)
        wanted = np.flatnonzero(signals.side == side)
        if not len(fills) or not len(wanted):
            continue
        order = np.argsort(fill_time[fills], kind="stable")
        fills, times = fills[order], fill_time[fills][order]
        low = np.searchsorted(times, signals.time[wanted] - tolerance, side="left")
        high = np.searchsorted(times, signals.time[wanted] + tolerance, side="right")
        counts = high - low
        if not counts.sum():
            continue
        signal_rows = np.repeat(wanted, counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        pairs_fill.append(fills[np.repeat(low, counts) + offsets])
        pairs_signal.append(signal_rows)
    if pairs_fill:
        candidate_fill = np.concatenate(pairs_fill)
        candidate_signal = np.concatenate(pairs_signal)
    else:
        candidate_fill = candidate_signal = np.empty(0, np.int64)
    fill, signal = _closest_first(candidate_fill, candidate_signal, fill_time, signals.time)
    delay = fill_time[fill] - signals.time[signal]
    return Matching(
        fill=fill,
        signal=signal,
        delay=delay,
        unmatched_fills=np.setdiff1d(np.arange(len(fill_time)), fill),
        missed_signals=np.setdiff1d(np.arange(len(signals)), signal),
    )


def _closest_first(
    candidate_fill: np.ndarray,
    candidate_signal: np.ndarray,
    fill_time: np.ndarray,
    signal_time: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    distance = np.abs(fill_time[candidate_fill] - signal_time[candidate_signal])
    order = np.lexsort((candidate_fill, candidate_signal, distance))
    fill_taken = np.zeros(len(fill_time), bool)
    signal_taken = np.zeros(len(signal_time), bool)
    kept_fill, kept_signal = [], []
    for f, s in zip(candidate_fill[order], candidate_signal[order], strict=True):
        if fill_taken[f] or signal_taken[s]:
            continue
        fill_taken[f] = signal_taken[s] = True
        kept_fill.append(f)
        kept_signal.append(s)
    pairs = np.array(kept_fill, np.int64), np.array(kept_signal, np.int64)
    by_signal = np.argsort(pairs[1], kind="stable")
    return pairs[0][by_signal], pairs[1][by_signal]


def timing_summary(delay: np.ndarray) -> dict[str, float | int | None]:
    """How late (positive) or early (negative) the matched fills were, in seconds."""
    if not len(delay):
        return {"matched": 0, "mean_s": None, "median_s": None, "min_s": None, "max_s": None}
    seconds = delay / 1e6
    return {
        "matched": len(delay),
        "mean_s": float(seconds.mean()),
        "median_s": float(np.median(seconds)),
        "min_s": float(seconds.min()),
        "max_s": float(seconds.max()),
    }
