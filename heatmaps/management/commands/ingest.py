from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from heatmaps import tasks

from ._args import add_period, check_period, one_line_failures


class Command(BaseCommand):
    # a job run by schedules and scripts: the system checks run with migrate and runserver
    requires_system_checks: list[str] = []
    help = "Load Binance archive files (zip or csv) for a symbol and period into DuckDB."

    def add_arguments(self, parser):
        add_period(parser)
        parser.add_argument(
            "--source",
            type=Path,
            help="archive root holding data/futures/um/... (default: BINANCE_DATA_PATH)",
        )
        parser.add_argument(
            "--datasets", help="comma-separated, e.g. metrics,klines:5m (default: all found)"
        )
        parser.add_argument(
            "--fetch",
            action="store_true",
            help="download the period's files first (fetch_binance's datasets, with CHECKSUM "
            "checks) into BINANCE_DATA_PATH",
        )
        parser.add_argument(
            "--spread",
            action="store_true",
            help="the qcluster's workers hash and unzip the files, a task per day, while this "
            "command loads them (same rows; with no qcluster running, this command does it all)",
        )

    def handle(self, *args, **options):
        check_period(options)
        source = options["source"]
        if source is not None and not source.is_dir():
            raise CommandError(f"--source {source} is not a folder")
        if source is not None and options["fetch"]:
            raise CommandError("--fetch downloads into BINANCE_DATA_PATH: leave out --source")
        with one_line_failures():
            fetch = options["fetch"] and tasks.files_to_fetch(
                options["symbol"], options["start"], options["end"], options["datasets"]
            )
            summary = tasks.ingest(
                options["symbol"],
                options["start"],
                options["end"],
                source=source,
                datasets=options["datasets"],
                progress=options["verbosity"] > 0,
                spread=options["spread"],
                fetch=fetch or None,
            )
        if "fetch" in summary:
            self._print_fetch(summary["fetch"])
        self._print(summary)
        if summary["rejected"]:
            raise CommandError(f"{len(summary['rejected'])} file(s) rejected (see above)")
        if summary.get("fetch", {}).get("failed"):
            raise CommandError(f"{len(summary['fetch']['failed'])} download(s) failed (see above)")
        if summary["files"] == 0:
            raise CommandError("no archive files found for that symbol, period and datasets")

    def _print_fetch(self, fetched: dict) -> None:
        self.stdout.write(
            f"downloads: {fetched['downloaded']} downloaded, {fetched['present']} already "
            f"present, {len(fetched['missing'])} not on the server, {len(fetched['failed'])} failed"
        )
        for bad in fetched["failed"]:
            self.stderr.write(f"FAILED {bad['path']}: {bad['reason']}")

    def _print(self, summary: dict) -> None:
        out = self.stdout
        out.write(
            f"{'dataset':<22}{'loaded':>8}{'replaced':>10}{'skipped':>9}{'rejected':>10}"
            f"{'rows added':>12}"
        )
        for name, c in summary["datasets"].items():
            out.write(
                f"{name:<22}{c.get('loaded', 0):>8}{c.get('replaced', 0):>10}"
                f"{c.get('skipped', 0):>9}{c.get('rejected', 0):>10}{c.get('rows', 0):>12,}"
            )
        out.write("\nwarehouse rows")
        for table, rows in summary["tables"].items():
            out.write(f"  {table:<22}{rows:>12,}")
        for bad in summary["rejected"]:
            where = f"{bad['path']}, line {bad['line']}" if bad["line"] else bad["path"]
            self.stderr.write(f"REJECTED {where}: {bad['reason']}")
        staged = summary["staged_by_workers"]
        by_workers = f", {staged} unzipped by the qcluster's workers" if staged else ""
        out.write(f"\n{summary['files']} file(s) in {summary['seconds']:.1f} s{by_workers}")
