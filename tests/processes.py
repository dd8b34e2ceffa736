"""Real server and worker processes for tests, on the test database and the test Redis."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connection
from mirakuru import HTTPExecutor, SimpleExecutor

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url_for_processes() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def process_env(**overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SECURITY_", "PYTEST_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        DJANGO_SECRET_KEY="insecure-key-for-the-test-suite-only",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_SECURE_COOKIES="0",
        DATABASE_URL=database_url_for_processes(),
        REDIS_URL=settings.REDIS_URL,
        GEOIP_PATH=str(settings.GEOIP_PATH),
        SECURITY_GEO_API_URL="",
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def log_file(name: str):
    (ROOT / "staticfiles").mkdir(exist_ok=True)  # what collectstatic makes in production
    path = ROOT / ".run" / f"test-{name}.log"
    return path.open("ab")


def start_web(
    workers: int = 2, threads: int = 4, asgi: bool = False, **env: str
) -> tuple[HTTPExecutor, str]:
    """gunicorn serving the demo: WSGI with threads, or ASGI with uvicorn workers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = ["project.asgi", "-k", "uvicorn_worker.UvicornWorker"] if asgi else ["project.wsgi"]
    command = [
        str(BIN / "gunicorn"),
        *app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--graceful-timeout",
        "10",
        "--no-control-socket",
    ]
    server = HTTPExecutor(
        command,
        url=url + "/",
        cwd=str(ROOT),
        envvars=process_env(**env),
        timeout=30,
        stdout=log_file("web"),
        stderr=log_file("web"),
    )
    server.start()
    return server, url


# A Dramatiq worker as the tests run it: one process, two threads, 5 s to finish on shutdown.
WORKER_COMMAND = (
    PYTHON,
    "manage.py",
    "rundramatiq",
    "--processes",
    "1",
    "--threads",
    "2",
    "--worker-shutdown-timeout",
    "5000",
)


def start_worker(**env: str) -> SimpleExecutor:
    worker = SimpleExecutor(
        list(WORKER_COMMAND),
        # SIGINT reaches the whole process group; dramatiq's children ignore it and take the
        # one SIGTERM their parent sends, so they finish in-flight messages and exit cleanly.
        stop_signal=signal.SIGINT,
        cwd=str(ROOT),
        envvars=process_env(**env),
        timeout=30,
        stdout=log_file("worker"),
        stderr=log_file("worker"),
    )
    worker.start()
    return worker


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    """The real command line: manage.py in a process of its own, as an operator runs it."""
    return subprocess.run(
        [PYTHON, "manage.py", *args],
        env=process_env(**env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
