"""python manage.py replay_transactions --user NAME [--symbol SYM] [--timeframe TF]
[--fill open|close|typical|worst] [--json]"""

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backtest.models import RunStatus
from backtest.services import InvalidBacktestInput, NotAllowed, cli_user
from central.cli import parse_moment
from marketdata.services import InvalidParameter
from replay import runs
from replay.models import FillModel, ReplayRun


class Command(BaseCommand):
    # Runs need models and data only; skipping the URL and admin checks saves a second.
    requires_system_checks: list[str] = []
    help = (
        "Replay a user's transactions in this process (no worker needed) against stored "
        "candles, save the run with one execution per transaction, and print its summary. "
        "Exits non-zero when the run fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="whose transactions (and run)")
        parser.add_argument("--symbol", help="only this symbol, e.g. BTCUSDT; default: all")
        parser.add_argument("--timeframe", default="1m", help="candles to replay against")
        parser.add_argument(
            "--fill", choices=FillModel.values, default=FillModel.CLOSE, help="the fill model"
        )
        parser.add_argument("--source", default="binance", help="candle source (binance)")
        parser.add_argument("--start", help="transactions from (ISO 8601, UTC without offset)")
        parser.add_argument("--end", help="transactions before (exclusive)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options) -> None:
        try:
            owner = cli_user(options["user"])
            run = runs.create_replay(owner, self._request(options))
        except (InvalidParameter, InvalidBacktestInput, NotAllowed) as exc:
            if options["json"]:
                self.stdout.write(json.dumps({"error": str(exc)}))
            raise CommandError(str(exc)) from None
        runs.execute_replay(run.pk)
        run.refresh_from_db()
        if options["json"]:
            self.stdout.write(json.dumps(_as_json(run)))
        else:
            self._print_summary(run)
        if run.status != RunStatus.COMPLETED:
            raise CommandError(f"replay #{run.pk} {run.status}: {run.error}")

    def _request(self, options: dict) -> runs.ReplayRequest:
        return runs.ReplayRequest(
            symbol=options["symbol"],
            timeframe=options["timeframe"],
            fill_model=options["fill"],
            source=options["source"],
            start=parse_moment("start", options["start"]) if options["start"] else None,
            end=parse_moment("end", options["end"]) if options["end"] else None,
        )

    def _print_summary(self, run: ReplayRun) -> None:
        self.stdout.write(
            f"replay #{run.pk} {run.symbol or 'all symbols'} {run.timeframe}, "
            f"fill {run.fill_model}: {run.status}"
        )
        if run.status != RunStatus.COMPLETED:
            return
        summary = run.summary
        self.stdout.write(
            f"  {summary['transactions']} transactions: {summary['completed']} replayed, "
            f"{summary['failed']} without a candle"
        )
        for symbol, figures in summary["symbols"].items():
            self.stdout.write(f"  {symbol}: {_figures(figures)}")
        for asset, figures in summary["total"].items():
            self.stdout.write(f"  total in {asset}: {_figures(figures)}")


def _figures(figures: dict) -> str:
    real, replayed = figures["real"], figures["replayed"]
    return (
        f"slippage cost {figures['value_difference']}; "
        f"realised PnL {real['realised_pnl']} real / {replayed['realised_pnl']} replayed, "
        f"unrealised {real['unrealised_pnl']} / {replayed['unrealised_pnl']}, "
        f"fees {real['fees']}, net {real['net_pnl']} / {replayed['net_pnl']} "
        f"(difference {figures['difference']['net_pnl']})"
    )


def _as_json(run: ReplayRun) -> dict:
    return {
        "replay_id": run.pk,
        "status": run.status,
        "error": run.error,
        "owner": run.owner.get_username(),
        "symbol": run.symbol or None,
        "timeframe": run.timeframe,
        "fill": run.fill_model,
        "transaction_count": run.transaction_count,
        "duration_seconds": (
            (run.finished_at - run.started_at).total_seconds()
            if run.finished_at and run.started_at
            else None
        ),
        "summary": run.summary,
    }
