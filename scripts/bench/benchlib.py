"""Shared pieces of the benchmarks: Django on the benchmark database, servers, wrk, results.

Every benchmark prints its figure next to a baseline measured in the same run, and the ratio.
"""

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPTS = ROOT / "scripts" / "bench"
for folder in (str(ROOT), str(SCRIPTS)):
    if folder not in sys.path:
        sys.path.insert(0, folder)


@dataclass
class Result:
    name: str
    value: float
    unit: str
    baseline_name: str
    baseline: float
    budget: str
    ok: bool

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")


def print_results(results: list["Result"]) -> None:
    header = f"{'benchmark':44} {'value':>14} {'baseline':>28} {'ratio':>7}  budget"
    print(header)
    print("-" * len(header))
    for r in results:
        value = f"{r.value:,.2f} {r.unit}"
        base = f"{r.baseline:,.2f} ({r.baseline_name})"
        verdict = "ok" if r.ok else "OVER BUDGET"
        print(f"{r.name:44} {value:>14} {base:>28} {r.ratio:7.3f}  {r.budget} [{verdict}]")


def setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench_settings"
    import django

    ensure_database()
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def empty(*models) -> None:
    """Empty tables between measurements: TRUNCATE on PostgreSQL, where a DELETE leaves dead
    rows behind that slow every later run's inserts and scans (the drain's store step measured
    15,500 records/s on a bloated table, 22,200 after a VACUUM)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        for model in models:
            model.objects.all().delete()
        return
    tables = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in models)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables}")


def ensure_database() -> None:
    url = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ip_tracking_bench"
    )
    if not url.startswith("postgres"):
        return
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(settings_module: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = settings_module
    env["PYTHONPATH"] = f"{ROOT}:{SCRIPTS}"
    return env


def start_gunicorn(
    settings_module: str, workers: int = 2, asgi: bool = False, env: dict | None = None
):
    """gunicorn on the project's WSGI app, or with uvicorn workers on its ASGI app."""
    from mirakuru import HTTPExecutor

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = ["project.asgi", "-k", "uvicorn_worker.UvicornWorker"] if asgi else ["project.wsgi"]
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        *app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--no-control-socket",
        "--log-level",
        "warning",
    ]
    server = HTTPExecutor(
        command,
        url=url + "/trivial/",
        cwd=str(ROOT),
        envvars={**server_env(settings_module), **(env or {})},
        timeout=60,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server.start()
    return server, url


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk:
        return wrk
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
        return shutil.which("wrk") or "wrk"
    raise SystemExit("the benchmarks need wrk (Debian: sudo apt-get install wrk)")


def wrk_rate(url: str, seconds: int = 5, connections: int = 8, threads: int = 2) -> float:
    output = subprocess.run(
        [require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        raise SystemExit(f"benchmark target answered errors:\n{output}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def alternate(names_and_urls: list[tuple[str, str]], rounds: int, seconds: int) -> dict:
    """Median requests/s per target, measured in alternating rounds after a warm-up."""
    for _name, url in names_and_urls:
        wrk_rate(url, seconds=1)
    rates: dict[str, list[float]] = {name: [] for name, _ in names_and_urls}
    for _ in range(rounds):
        for name, url in names_and_urls:
            rates[name].append(wrk_rate(url, seconds=seconds))
    return {name: statistics.median(values) for name, values in rates.items()}


def timed(function, repeat: int = 3) -> float:
    """Best wall time of `repeat` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def operator_client():
    """A Django test client signed in as a superuser, for timing the console's pages."""
    from django.contrib.auth.models import User
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    user, _ = User.objects.get_or_create(
        username="bench-operator", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    return client


def page_fetch(client, url: str):
    """A call that gets `url` and insists on a 200, for timed()."""

    def call() -> None:
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]

    return call
