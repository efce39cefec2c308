from django.core.management.base import BaseCommand
from django_q.models import Schedule

from ._args import symbols


class Command(BaseCommand):
    help = (
        "Create or update the django-q2 schedules (idempotent): ingest daily, calibrate daily, "
        "calculate hourly, follow the market (REST) every minute (each new bar then updates the "
        "models), evaluate the alerts every minute."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--symbols", "--symbol", type=symbols, default=["BTCUSDT"], help="BTCUSDT,ETHUSDT"
        )

    def handle(self, *args, **options):
        for sym in options["symbols"]:
            plans = [
                (f"fetch and ingest {sym}", "heatmaps.tasks.fetch_and_ingest", Schedule.DAILY),
                (f"calibrate {sym}", "heatmaps.tasks.calibrate_recent", Schedule.DAILY),
                (f"calculate {sym}", "heatmaps.tasks.calculate_recent", Schedule.HOURLY),
                (f"follow {sym}", "live.follow.follow_rest", Schedule.MINUTES),
            ]
            for name, func, kind in plans:
                minutes = 1 if kind == Schedule.MINUTES else None
                self._plan(name, func, kind, args=repr(sym), minutes=minutes)
        # every user's alerts, whatever the symbol
        self._plan("evaluate alerts", "alerts.tasks.evaluate", Schedule.MINUTES, minutes=1)
        self.stdout.write("run the jobs with: python manage.py qcluster")

    def _plan(self, name: str, func: str, kind: str, **fields) -> None:
        schedule, created = Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": kind, "repeats": -1, **fields}
        )
        self.stdout.write(
            f"{'created' if created else 'updated'}: {schedule.name} "
            f"({schedule.get_schedule_type_display().lower()})"
        )
