"""Live progress of a replay, for its owner, those it is shared with, and operators."""

from central.progress_consumer import RunProgressConsumer
from replay.models import ReplayRun
from replay.progress import is_final, replay_group, replay_message
from replay.selectors import visible_replay_runs


class ReplayProgressConsumer(RunProgressConsumer):
    """Messages are described in replay.progress; anyone else is refused (4403)."""

    url_kwarg = "replay_id"

    def may_watch(self, user, run_id: int) -> bool:
        # Unknown ids are refused like foreign ones: an id's existence is not revealed.
        return visible_replay_runs(user).filter(pk=run_id).exists()

    def snapshot(self, run_id: int) -> dict | None:
        run = ReplayRun.objects.filter(pk=run_id).first()
        return replay_message(run) if run else None

    def group_for(self, run_id: int) -> str:
        return replay_group(run_id)

    def is_final(self, message: dict) -> bool:
        return is_final(message)
