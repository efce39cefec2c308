from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from heatmaps import tasks
from heatmaps.models import BacktestRun
from models_engine import registry

from ._args import add_period


class Command(BaseCommand):
    # a job run by schedules and scripts: the system checks run with migrate and runserver
    requires_system_checks: list[str] = []
    help = "Score the models' stored heatmaps against realized liquidations (a BacktestRun)."

    def add_arguments(self, parser):
        add_period(parser)
        parser.add_argument("--models", default=",".join(registry.MODEL_NAMES))
        parser.add_argument("--horizons", default="1h,24h,7d", help="of 1h, 24h, 7d")

    def handle(self, *args, **options):
        run = BacktestRun(
            symbol=options["symbol"],
            start=options["start"],
            end=options["end"],
            model_names=options["models"],
            horizons=options["horizons"],
        )
        try:
            run.full_clean()
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        run.save()
        tasks.backtest(run.pk)
        run.refresh_from_db()
        if run.status != BacktestRun.Status.DONE:
            raise CommandError(f"backtest {run.pk} {run.status}: {run.error}")
        self.stdout.write(
            f"backtest {run.pk}: share of realized notional in each model's top "
            "10 % buckets (random = 0.10)"
        )
        self.stdout.write(
            f"{'model':<18}{'horizon':>8}{'side':>7}{'p@10%':>8}{'95% interval':>15}{'lift':>7}"
            f"{'rec±1%':>8}{'rho':>8}{'evals':>7}"
        )
        for r in run.results:
            number = lambda v, w: f"{'—' if v is None else f'{v:.3f}':>{w}}"  # noqa: E731
            interval = "—" if r["p10_low"] is None else f"{r['p10_low']:.3f}..{r['p10_high']:.3f}"
            self.stdout.write(
                f"{r['model']:<18}{r['horizon']:>8}{r['side']:>7}"
                f"{number(r['precision_at_10'], 8)}{interval:>15}{number(r['lift'], 7)}"
                f"{number(r['recall_1pct'], 8)}{number(r['spearman'], 8)}{r['evaluations']:>7}"
            )
