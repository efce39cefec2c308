from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from heatmaps import tasks

from ._args import add_period, check_period, one_line_failures


class Command(BaseCommand):
    # a job run by schedules and scripts: the system checks run with migrate and runserver
    requires_system_checks: list[str] = []
    help = "Download Binance archive files (with CHECKSUM verification) into BINANCE_DATA_PATH."

    def add_arguments(self, parser):
        add_period(parser)
        parser.add_argument(
            "--datasets",
            default=tasks.DEFAULT_FETCH_DATASETS,
            help="comma-separated; kline datasets take :interval (default: %(default)s)",
        )

    def handle(self, *args, **options):
        check_period(options)
        with one_line_failures():
            summary = tasks.fetch(
                options["symbol"],
                options["start"],
                options["end"],
                datasets=options["datasets"],
                progress=options["verbosity"] > 0,
            )
        self.stdout.write(
            f"{summary['files']} file(s): {summary['downloaded']} downloaded, "
            f"{summary['present']} already present, {len(summary['missing'])} not on the server, "
            f"{len(summary['failed'])} failed, into {settings.BINANCE_DATA_PATH}"
        )
        for path in summary["missing"]:
            self.stdout.write(f"  missing on the server: {path}")
        for bad in summary["failed"]:
            self.stderr.write(f"FAILED {bad['path']}: {bad['reason']}")
        if summary["failed"]:
            raise CommandError(f"{len(summary['failed'])} file(s) failed to download")
