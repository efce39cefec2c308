"""What the benchmarks share: a private Django + warehouse in a temporary folder, a gunicorn
server on loopback, and timing. Every bench imports this before Django."""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # servers and clients stay on loopback, never any other address
# the repository (liqsite, heatmaps, ...) and this folder (imported as bench.harness by tests)
for folder in (REPO, REPO / "bench"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from servers import free_port  # noqa: E402, F401  (the benches' one way to find a port)


def django_env(work: Path, **overrides: str) -> dict[str, str]:
    """Settings that keep Django's database, the warehouse, its snapshots and the cache in
    ``work`` (nothing of the checkout is touched), production-like (DEBUG off)."""
    return {
        "DJANGO_SETTINGS_MODULE": "liqsite.settings",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "DEBUG": "false",
        "HTTPS": "false",  # plain HTTP on loopback: no redirect to https, cookies over HTTP
        "ALLOWED_HOSTS": HOST,
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": f"sqlite:///{work / 'django.sqlite3'}",
        "DUCKDB_PATH": str(work / "liqmap.duckdb"),
        "SERVING_PATH": str(work / "serving"),
        "BINANCE_DATA_PATH": str(work / "archive"),
        # every gunicorn worker must share the cache: throttle counters, rendered answers
        "CACHE_URL": f"filecache://{work / 'cache'}",
        **overrides,
    }


def setup_django(work: Path, **overrides: str) -> dict[str, str]:
    """Start Django in this process on ``django_env(work)`` and migrate; return the env (for
    servers started later). Settings already in the environment win."""
    env = {**django_env(work, **overrides), **_already_set()}
    os.environ.update(env)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return env


def _already_set() -> dict[str, str]:
    names = ("DUCKDB_PATH", "DATABASE_URL", "SECRET_KEY", "LOG_LEVEL")
    return {name: os.environ[name] for name in names if name in os.environ}


# --- gunicorn --------------------------------------------------------------------------------


def gunicorn_command(
    port: int, workers: int = 2, worker_class: str = "sync", threads: int = 4
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "liqsite.wsgi:application",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--no-control-socket",  # gunicorn 27 opens one in ~/.gunicorn otherwise
    ]
    if worker_class == "gthread":
        command += ["--threads", str(threads)]
    return command


def start_server(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            command, cwd=REPO, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )


def get(port: int, path: str, token: str | None = None, timeout: float = 10.0):
    """(status, body) of one GET on loopback, with a token if given."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        headers = {"Authorization": f"Token {token}"} if token else {}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(
    server: subprocess.Popen,
    port: int,
    log: Path,
    path: str,
    token: str | None = None,
    limit: float = 30.0,
) -> None:
    """Until ``path`` answers below 400 (or the server dies, or ``limit`` seconds pass)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if get(port, path, token, timeout=2.0)[0] < 400:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {limit:g} s:\n{log.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()  # SIGTERM: gunicorn's graceful shutdown
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


# --- django-q2 -----------------------------------------------------------------------------


def run_queued(func: str, calls: list[tuple], timeout: float = 1800, **kwargs) -> tuple:
    """Queue ``func`` once per argument tuple and wait until the qclusters have run them all:
    (wall seconds from the first queued to the last finished, their django-q2 Tasks). A
    failed task raises, with its traceback."""
    from django_q.models import Task
    from django_q.tasks import async_task

    started = time.perf_counter()
    ids = [async_task(func, *args, **kwargs) for args in calls]
    deadline = time.monotonic() + timeout
    while Task.objects.filter(id__in=ids).count() < len(ids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{func} did not finish in {timeout:g} s")
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    tasks = list(Task.objects.filter(id__in=ids))
    failed = [t.result for t in tasks if not t.success]
    if failed:
        raise RuntimeError(f"{func} failed: {failed[0]}")
    return seconds, tasks


# --- a work folder ---------------------------------------------------------------------------


@contextlib.contextmanager
def scratch(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A temporary work folder, removed at the end unless ``keep`` (then its path is said)."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    finally:
        if keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


# --- timing and report -----------------------------------------------------------------------


def timed(action: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Median seconds of ``repeat`` runs and the last run's result (the previous result is
    dropped before each run, so at most one is alive)."""
    times, result = [], None
    for _ in range(repeat):
        result = None
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def machine_line() -> str:
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return f"machine: nproc={os.cpu_count()}  load average {load}  python={sys.version.split()[0]}"
