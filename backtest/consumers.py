"""Live progress of a backtest, for its owner and those it is shared with."""

from backtest.models import Backtest
from backtest.progress import backtest_group, backtest_message, is_final
from backtest.selectors import can_watch_backtest
from central.progress_consumer import RunProgressConsumer


class BacktestProgressConsumer(RunProgressConsumer):
    """Messages are described in backtest.progress; anyone else is refused (4403)."""

    url_kwarg = "backtest_id"

    def may_watch(self, user, run_id: int) -> bool:
        # Unknown ids are refused like foreign ones: an id's existence is not revealed.
        return can_watch_backtest(user, run_id)

    def snapshot(self, run_id: int) -> dict | None:
        backtest = Backtest.objects.filter(pk=run_id).first()
        return backtest_message(backtest) if backtest else None

    def group_for(self, run_id: int) -> str:
        return backtest_group(run_id)

    def is_final(self, message: dict) -> bool:
        return is_final(message)
