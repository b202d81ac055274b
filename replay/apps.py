from django.apps import AppConfig


class ReplayConfig(AppConfig):
    name = "replay"
    verbose_name = "Transaction replay"

    def ready(self) -> None:
        from accounts.sharing import register_shareable

        for name in ("ImportBatch", "ReplayRun"):
            register_shareable(self.get_model(name))
