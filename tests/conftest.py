"""Shared fixtures: a warehouse file per test, archive trees on disk (written with
``heatmaps.binance.writer``) and served on loopback."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from heatmaps import warehouse
from heatmaps.binance.rest import BinanceRest

from .binance_fakes import DAYS, END, FakeBinance, rest_server
from .log_secrets import pytest_sessionfinish, pytest_sessionstart  # noqa: F401  (hooks)
from .servers import postgres, redis_url  # noqa: F401 (fixtures of the scale-out tests)

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample" / "sim-dev"
# BTCUSDT, and ETHUSDT derived from it (data/sample/rebuild.py: prices × 0.05, coins × 20)
SAMPLE_SYMBOLS = ("BTCUSDT", "ETHUSDT")


@pytest.fixture
def warehouse_path(tmp_path, settings) -> Path:
    settings.DUCKDB_PATH = tmp_path / "warehouse" / "liquidations.duckdb"
    return settings.DUCKDB_PATH


@pytest.fixture
def sample_archive(tmp_path) -> Path:
    """A writable copy of the bundled sample archive's BTCUSDT (zips with CHECKSUM files)."""
    root = tmp_path / "archive"
    derived = [s for s in SAMPLE_SYMBOLS if s != "BTCUSDT"]
    shutil.copytree(SAMPLE / "data", root / "data", ignore=shutil.ignore_patterns(*derived))
    return root


def snapshot(symbol: str = "BTCUSDT") -> dict[str, list[tuple]]:
    """Every row of every table of a symbol's warehouse, in a stable order, to compare before
    and after."""
    with warehouse.connect(symbol) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output readable
        pass


@pytest.fixture
def archive_server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving a folder laid out like the archive."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# --- personas and a served warehouse ---------------------------------------------------------

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, settings):
    """Every test gets its own shared-file cache (throttle counters, rendered heatmaps), and
    passwords hash fast (the real hasher costs a third of a second per user)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "cache"),
        }
    }


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        "staff", "staff@example.com", PASSWORD, is_staff=True, is_superuser=True
    )


@pytest.fixture
def dashboard_user(django_user_model):
    return django_user_model.objects.create_user("trader", "trader@example.com", PASSWORD)


@pytest.fixture
def bot_token(django_user_model):
    from knox.models import AuthToken

    bot = django_user_model.objects.create_user("nautilus", "bot@example.com", PASSWORD)
    return AuthToken.objects.create(bot)[1]


@pytest.fixture
def clients(client, staff, dashboard_user, bot_token):
    """Each persona's HTTP client: staff and the trader logged in, the bot with its token."""
    from django.test import Client

    as_staff, as_trader = Client(), Client()
    as_staff.force_login(staff)
    as_trader.force_login(dashboard_user)
    return {
        "staff": as_staff,
        "trader": as_trader,
        "bot": Client(HTTP_AUTHORIZATION=f"Token {bot_token}"),
        "outsider": client,
    }


def build_served_warehouse(
    root: Path, end=None, calibrate: bool = True, symbols: tuple[str, ...] = SAMPLE_SYMBOLS
) -> tuple[Path, Path]:
    """Ingest the sample's symbols, calibrate and calculate every model into ``root``; return
    (duckdb, serving)."""
    from datetime import date

    from django.test import override_settings

    from heatmaps import tasks
    from heatmaps.models import Calibration, IngestRun, WeightConfig

    duckdb_path, serving = root / "liquidations.duckdb", root / "serving"
    with override_settings(DUCKDB_PATH=duckdb_path, SERVING_PATH=serving):
        for symbol in symbols:
            tasks.ingest(symbol, date(2024, 1, 1), date(2024, 1, 10), source=SAMPLE)
            if calibrate:
                tasks.calibrate(symbol)
            tasks.calculate(symbol, end=end)
    IngestRun.objects.all().delete()
    WeightConfig.objects.all().delete()
    Calibration.objects.all().delete()
    return duckdb_path, serving


@pytest.fixture(scope="session")
def sample_served(tmp_path_factory, django_db_setup, django_db_blocker) -> tuple[Path, Path]:
    """The sample, ingested and calculated once per test session (read-only for tests)."""
    with django_db_blocker.unblock():
        return build_served_warehouse(tmp_path_factory.mktemp("served"))


@pytest.fixture
def served(sample_served, settings):
    settings.DUCKDB_PATH, settings.SERVING_PATH = sample_served
    settings.WAREHOUSE_RETRY_DELAYS = [0.01, 0.01, 0.01]
    return sample_served


def run_queued_tasks() -> int:
    """Run what is queued on django-q2's ORM broker the way a qcluster does (its own pusher,
    worker and monitor, in this process); return how many tasks ran."""
    from multiprocessing import Event, Queue, Value

    from django_q.brokers import get_broker
    from django_q.monitor import monitor
    from django_q.pusher import pusher
    from django_q.worker import worker

    broker = get_broker()
    waiting = broker.queue_size()
    tasks, results, done = Queue(), Queue(), Event()
    done.set()  # one pass over the queue
    pusher(tasks, done, broker=broker)
    tasks.put("STOP")
    worker(tasks, results, Value("f", -1))
    results.put("STOP")
    monitor(results, broker)
    return waiting


@pytest.fixture
def market(archive_server, settings, tmp_path, warehouse_path):
    """(fake REST API, archive folder served): the archive has the first 8 days."""
    served_root, base_url = archive_server
    publish_days(served_root, DAYS[:8])
    settings.BINANCE_BASE_URL = base_url
    settings.BINANCE_DATA_PATH = tmp_path / "mirror"
    settings.SERVING_PATH = tmp_path / "serving"
    settings.FETCH_RETRIES, settings.FETCH_BACKOFF_SECONDS = 0, 0
    fake = FakeBinance(SAMPLE, DAYS, END)
    server, url = rest_server(fake)
    settings.BINANCE_REST_URL = url
    yield fake, served_root, BinanceRest(url, throttle=False)
    server.shutdown()
    server.server_close()


def publish_days(root, days):
    """Put the sample's files of ``days`` (and the monthly ones) on the archive server."""
    for path in (SAMPLE / "data").rglob("*"):
        if path.is_file() and (any(d in path.name for d in days) or "monthly" in str(path)):
            target = root / path.relative_to(SAMPLE)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
