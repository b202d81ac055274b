"""python manage.py run_backtest --symbol SYM --timeframe TF (--strategy ID | --template NAME)"""

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backtest import services
from backtest.execution import execute_backtest
from backtest.models import RunStatus
from backtest.reports import backtest_summary
from backtest.selectors import visible_strategies
from central.cli import parse_moment
from marketdata.services import InvalidParameter


class Command(BaseCommand):
    # Runs need models and data only; skipping the URL and admin checks saves a second.
    requires_system_checks: list[str] = []
    help = (
        "Run a backtest in this process (no worker needed) on stored candles, save it "
        "with its trades and summary, and print the summary. Exits non-zero on failure."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--symbol", required=True, help="e.g. BTCUSDT")
        parser.add_argument("--timeframe", required=True, help="e.g. 1h")
        parser.add_argument("--source", default="binance", help="candle source (binance)")
        parser.add_argument("--start", help="ISO 8601, UTC without an offset; default: first")
        parser.add_argument("--end", help="exclusive; default: after the last stored candle")
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--strategy", type=int, help="id of a saved strategy")
        which.add_argument("--template", help="a template name, e.g. sma_cross")
        parser.add_argument("--params", help='rule parameters as JSON, e.g. {"fast": 10}')
        parser.add_argument("--direction", choices=("long", "short", "both"))
        parser.add_argument("--cash", type=float, help="initial balance (default 10000)")
        parser.add_argument("--fee", type=float, help="fraction per side, e.g. 0.001")
        parser.add_argument("--slippage", type=float, help="fraction per side")
        parser.add_argument(
            "--user", help=f"owner of the saved run; default: the {services.CLI_USERNAME} account"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options) -> None:
        try:
            owner = services.cli_user(options["user"])
            backtest = services.create_backtest(owner, self._request(owner, options))
        except (InvalidParameter, services.InvalidBacktestInput, services.NotAllowed) as exc:
            if options["json"]:
                self.stdout.write(json.dumps({"error": str(exc)}))
            raise CommandError(str(exc)) from None
        execute_backtest(backtest.pk, respect_user_limit=False)
        backtest.refresh_from_db()
        summary = backtest_summary(backtest)
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self._print_summary(summary)
        if backtest.status != RunStatus.COMPLETED:
            raise CommandError(f"backtest #{backtest.pk} {backtest.status}: {backtest.error}")

    def _request(self, owner, options: dict) -> services.BacktestRequest:
        strategy = None
        if options["strategy"] is not None:
            strategy = visible_strategies(owner).filter(pk=options["strategy"]).first()
            if strategy is None:
                raise InvalidParameter("strategy", f"no strategy #{options['strategy']} for you")
        try:
            parameters = json.loads(options["params"]) if options["params"] else {}
        except json.JSONDecodeError as exc:
            raise InvalidParameter("params", f"not valid JSON ({exc})") from None
        if not isinstance(parameters, dict):
            raise InvalidParameter("params", "must be a JSON object of name: number")
        run_options = {
            name: options[name]
            for name in ("direction", "cash", "fee", "slippage")
            if options[name] is not None
        }
        return services.BacktestRequest(
            symbol=options["symbol"],
            timeframe=options["timeframe"],
            source=options["source"],
            start=parse_moment("start", options["start"]) if options["start"] else None,
            end=parse_moment("end", options["end"]) if options["end"] else None,
            strategy=strategy,
            template=options["template"],
            parameters=parameters,
            options=run_options,
        )

    def _print_summary(self, summary: dict) -> None:
        self.stdout.write(
            f"backtest #{summary['backtest_id']} {summary['symbol']} {summary['timeframe']} "
            f"{summary['strategy']}: {summary['status']}"
        )
        if summary["status"] != RunStatus.COMPLETED:
            return
        self.stdout.write(
            f"  {summary['bars']} bars from {summary['data_start']} to {summary['data_end']}\n"
            f"  trades {summary['total_trades']} (won {summary['winning_trades']}, "
            f"win rate {summary['win_rate']} %)\n"
            f"  final balance {summary['final_balance']} "
            f"(PnL {summary['total_pnl_percentage']} %), "
            f"max drawdown {summary['max_drawdown_percentage']} %, "
            f"Sharpe {summary['sharpe_ratio']}"
        )
