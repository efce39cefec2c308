from django.core.management.base import BaseCommand

from heatmaps import tasks
from models_engine import registry

from ._args import add_period, check_period, one_line_failures


class Command(BaseCommand):
    # a job run by schedules and scripts: the system checks run with migrate and runserver
    requires_system_checks: list[str] = []
    help = "P&L of hourly trend following with and without the signal filter (paper trading)."

    def add_arguments(self, parser):
        add_period(parser)
        parser.add_argument("--model", default="ensemble", choices=registry.MODEL_NAMES)

    def handle(self, *args, **options):
        check_period(options)
        with one_line_failures():
            r = tasks.paper_trade(
                options["symbol"], options["start"], options["end"], options["model"]
            )
        self.stdout.write(
            f"{r['symbol']} {r['start']}..{r['end']}, {r['hours']} hours, signals "
            f"from {r['model']}: {r['signals']}"
        )
        for name in ("baseline", "filtered"):
            self.stdout.write(
                f"  {name:<9} P&L {100 * r[name]['pnl']:+.2f} % of capital, "
                f"{r[name]['trades']} trades"
            )
        self.stdout.write(
            f"  the filter kept the strategy flat for {r['hours_flat_by_filter']} hours"
        )
