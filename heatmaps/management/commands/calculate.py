from django.core.management.base import BaseCommand, CommandError

from heatmaps import tasks
from models_engine import registry

from ._args import day, one_line_failures, symbol


class Command(BaseCommand):
    # a job run by schedules and scripts: the system checks run with migrate and runserver
    requires_system_checks: list[str] = []
    help = "Run the liquidation models on the warehouse and store their levels and heatmaps."

    def add_arguments(self, parser):
        parser.add_argument("--symbol", type=symbol, default="BTCUSDT")
        parser.add_argument("--model", default="all", choices=[*registry.MODEL_NAMES, "all"])
        parser.add_argument("--start", type=day, help="first day (default: the first data)")
        parser.add_argument("--end", type=day, help="last day, inclusive (default: the last)")
        parser.add_argument(
            "--update",
            action="store_true",
            help="what the live jobs run: continue the last calculate's checkpoint on the bars "
            "since (today's rows replaced), or recompute today in full if it no longer holds",
        )

    def handle(self, *args, **options):
        start, end = options["start"], options["end"]
        if start and end and start > end:
            raise CommandError(f"--start {start} is after --end {end}")
        if options["update"] and (start or end or options["model"] != "all"):
            raise CommandError("--update takes no --start, --end or --model: it updates all")
        with one_line_failures():
            if options["update"]:
                summary = tasks.calculate_update(options["symbol"])
            else:
                summary = tasks.calculate(options["symbol"], options["model"], start, end)
        if "skipped" in summary:
            self.stdout.write(f"{summary['symbol']}: {summary['skipped']}")
            return
        if "full_recompute" in summary:
            self.stdout.write(f"full recompute of today: {summary['full_recompute']}")
        window = " .. ".join(summary["window"])
        self.stdout.write(
            f"{summary['symbol']} {window}: models computed in {summary['compute_seconds']:.2f} s"
        )
        self.stdout.write(
            f"{'model':<18}{'levels':>8}{'heatmap cells':>15}{'predicted':>11}{'confidence':>12}"
        )
        for name, s in summary["models"].items():
            flag = "" if s["is_valid"] else "  INVALID (confidence < 0.3)"
            self.stdout.write(
                f"{name:<18}{s['levels']:>8}{s['heatmap_cells']:>15,}"
                f"{s['predicted']:>11,}{s['confidence']:>12.2f}{flag}"
            )
            for text in s["warnings"]:
                self.stdout.write(f"    - {text}")
