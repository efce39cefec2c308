from django.core.management.base import BaseCommand

from heatmaps import tasks

from ._args import day, one_line_failures, symbol


class Command(BaseCommand):
    # a job run by schedules and scripts: the system checks run with migrate and runserver
    requires_system_checks: list[str] = []
    help = (
        "Fit the models' parameters (how much each bar opens, leverage mix, lifetimes, closing) "
        "walk-forward: one calibration valid from each day's 00:00 UTC, fitted on the "
        "liquidations and bars before it only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--symbol", type=symbol, default="BTCUSDT")
        parser.add_argument("--start", type=day, help="first day to calibrate (default: all)")
        parser.add_argument("--end", type=day, help="last day, inclusive (default: the last)")
        parser.add_argument("--force", action="store_true", help="refit days already calibrated")

    def handle(self, *args, **options):
        with one_line_failures():
            summary = tasks.calibrate(
                options["symbol"],
                options["start"],
                options["end"],
                force=options["force"],
                progress=options["verbosity"] > 0,
            )
        self.stdout.write(
            f"{summary['symbol']}: {summary['fitted']} fitted, {summary['prior']} left to the "
            f"prior (too few liquidations), {summary['kept']} already calibrated"
            + (
                f", {summary['too_young']} too early in the data"
                if summary.get("too_young")
                else ""
            )
        )
        latest = summary.get("latest")
        if latest:
            self.stdout.write(f"latest fit: {latest['liquidations']:,} liquidations")
            self.stdout.write(f"  half-life (h): {latest['half_life_hours']}")
            for side, mix in latest["leverage_mix"].items():
                shown = ", ".join(f"{t:g}x {100 * w:.0f}%" for t, w in mix.items() if w >= 0.005)
                self.stdout.write(f"  {side} leverage mix: {shown}")
            self.stdout.write(
                f"  closing: follows {100 * latest['closing_share']:.0f}% of open-interest "
                f"falls, lean {latest['closing_lean']:g}"
            )
