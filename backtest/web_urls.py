"""The analysts' pages for strategies, backtests, comparisons and sweeps."""

from backtest.pages import comparison, runs, strategies, sweeps

urlpatterns = [
    *strategies.urlpatterns,
    *runs.urlpatterns,
    *comparison.urlpatterns,
    *sweeps.urlpatterns,
]
