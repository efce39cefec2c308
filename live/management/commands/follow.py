import argparse
import json
from datetime import UTC, datetime

from django.core.management.base import BaseCommand

from heatmaps.management.commands._args import day, one_line_failures, symbols
from live import follow

from ._stopping import stop_on_signals


class Command(BaseCommand):
    requires_system_checks: list[str] = []
    help = (
        "Follow the market: the archive up to the last full day, then Binance's REST API up to "
        "the current minute, then every minute (--once: one pass); the models are updated "
        "after each pass (calculate --update)."
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

        parser.add_argument(
            "--at",
            type=_moment,
            help="with --once: pretend it is this UTC time, e.g. 2024-01-11T00:00 (replays)",
        )

    def handle(self, *args, **options):
        with one_line_failures():
            if options["once"]:
                summary = follow.follow_pass(
                    options["symbols"],
                    at_ms=options["at"],
                    since=options["since"],
                    archive=not options["rest_only"],
                )
                follow.update_models(summary)
                self.stdout.write(json.dumps(summary, indent=2, default=str))
            else:
                follow.follow(
                    options["symbols"],
                    since=options["since"],
                    archive=not options["rest_only"],
                    stop=stop_on_signals(),
                )


def _moment(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time like 2024-01-11T00:00") from None
    return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() * 1000)
