"""Live progress of a backtest, for its owner and those it is shared with, and the live
state of a paper session."""

from backtest import paper, paper_progress
from backtest.models import Backtest, PaperSession
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


class PaperSessionConsumer(RunProgressConsumer):
    """A paper session's state (backtest.paper_progress) for those who may see it, on
    connect and after every step, stop or kill; anyone else is refused (4403). The
    socket closes once the session no longer runs."""

    url_kwarg = "session_id"

    def may_watch(self, user, run_id: int) -> bool:
        # The API's selector: unknown and foreign ids are refused alike.
        return user.is_authenticated and paper.visible_sessions(user).filter(pk=run_id).exists()

    def snapshot(self, run_id: int) -> dict | None:
        session = PaperSession.objects.filter(pk=run_id).first()
        return paper_progress.paper_message(session) if session else None

    def group_for(self, run_id: int) -> str:
        return paper_progress.paper_group(run_id)

    def is_final(self, message: dict) -> bool:
        return paper_progress.is_final(message)
