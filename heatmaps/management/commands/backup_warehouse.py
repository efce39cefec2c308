from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from heatmaps import warehouse

from ._args import one_line_failures, symbols


class Command(BaseCommand):
    requires_system_checks: list[str] = []
    help = (
        "Copy each symbol's warehouse file into a folder, consistently: each is copied while "
        "holding its writer lock, so the jobs may keep running (they wait for the copy)."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path, help="where the copies go (created if needed)")
        parser.add_argument(
            "--symbols", type=symbols, help="BTCUSDT,ETHUSDT (default: every stored symbol)"
        )

    def handle(self, *args, **options):
        chosen = options["symbols"] or warehouse.stored_symbols()
        missing = [s for s in chosen if s not in warehouse.stored_symbols()]
        if missing:
            raise CommandError(f"no warehouse for {', '.join(missing)}")
        with one_line_failures():
            for symbol in chosen:
                copy = warehouse.backup(symbol, options["folder"])
                self.stdout.write(f"{symbol}: {copy} ({copy.stat().st_size / 1e6:.1f} MB)")
