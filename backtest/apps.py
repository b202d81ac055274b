from django.apps import AppConfig


class BacktestConfig(AppConfig):
    name = "backtest"
    verbose_name = "Backtests"

    def ready(self) -> None:
        from accounts.sharing import register_shareable

        for name in ("Strategy", "Backtest", "Sweep"):
            register_shareable(self.get_model(name))
