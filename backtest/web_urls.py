"""The analysts' pages for strategies, backtests, comparisons, sweeps and
paper trading."""

from backtest.pages import comparison, paper, runs, strategies, sweeps

urlpatterns = [
    *strategies.urlpatterns,
    *runs.urlpatterns,
    *comparison.urlpatterns,
    *sweeps.urlpatterns,
    *paper.urlpatterns,
]
