from django.core.management.base import BaseCommand

from heatmaps import tasks

from ._args import one_line_failures, symbol


class Command(BaseCommand):
    # a job run by schedules and scripts: the system checks run with migrate and runserver
    requires_system_checks: list[str] = []
    help = (
        "Fetch a symbol's maintenance-margin brackets from Binance (signed GET "
        "/fapi/v1/leverageBracket: needs BINANCE_API_KEY and BINANCE_API_SECRET) and store them "
        "as a new table in force from now, unless they are the table already in force."
    )

    def add_arguments(self, parser):
        parser.add_argument("--symbol", type=symbol, required=True, help="e.g. ETHUSDT")

    def handle(self, *args, **options):
        with one_line_failures():
            s = tasks.fetch_brackets(options["symbol"])
        first = s["first"]
        head = (
            f"first bracket up to {first['cap']:,.0f} USDT: {first['max_leverage']}x, "
            f"maintenance {100 * first['mmr']:g} %"
        )
        if s["stored"]:
            self.stdout.write(
                f"{s['symbol']}: stored {s['brackets']} brackets in force from "
                f"{s['in_force_from']} UTC; {head}"
            )
        else:
            self.stdout.write(
                f"{s['symbol']}: unchanged, the table in force since {s['in_force_from']} UTC "
                f"({s['brackets']} brackets); {head}"
            )
