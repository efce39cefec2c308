import json

from django.core.management.base import BaseCommand

from heatmaps.management.commands._args import day, one_line_failures, symbols
from live import follow

from ._stopping import stop_on_signals


class Command(BaseCommand):
    requires_system_checks: list[str] = []
    help = (
        "Follow the market: the archive up to the last full day, then Binance's REST API up to "
        "the current minute, then every minute (--once: one pass)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--symbols", type=symbols, default=["BTCUSDT"], help="BTCUSDT,ETHUSDT")
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        parser.add_argument(
            "--rest-only", action="store_true", help="skip the archive (the daily job fetches it)"
        )
        parser.add_argument(
            "--since", type=day, help="first day for feeds with no rows (default: a few days ago)"
        )

    def handle(self, *args, **options):
        with one_line_failures():
            if options["once"]:
                summary = follow.follow_pass(
                    options["symbols"], since=options["since"], archive=not options["rest_only"]
                )
                self.stdout.write(json.dumps(summary, indent=2, default=str))
            else:
                follow.follow(
                    options["symbols"],
                    since=options["since"],
                    archive=not options["rest_only"],
                    stop=stop_on_signals(),
                )
