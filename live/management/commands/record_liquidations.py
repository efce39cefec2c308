from django.core.management.base import BaseCommand

from heatmaps.feeds import STREAM_UNDERCOUNT
from heatmaps.management.commands._args import one_line_failures, symbols
from live.recorder import record_liquidations

from ._stopping import stop_on_signals


class Command(BaseCommand):
    requires_system_checks: list[str] = []
    help = (
        "Record realized liquidations from Binance's forceOrder WebSocket stream into the "
        "warehouse (runs until stopped). " + STREAM_UNDERCOUNT
    )

    def add_arguments(self, parser):
        parser.add_argument("--symbols", type=symbols, default=["BTCUSDT"], help="BTCUSDT,ETHUSDT")

    def handle(self, *args, **options):
        self.stderr.write(STREAM_UNDERCOUNT)
        with one_line_failures():
            summary = record_liquidations(options["symbols"], stop=stop_on_signals())
        self.stdout.write(f"recorded {summary['added']} liquidations")
