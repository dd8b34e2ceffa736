"""A new adopter's site: built from the README alone, running the app installed from its wheel.

The app is built into a wheel and installed into a folder of its own; the host site
(tests/hostsite, a trimmed `startproject` plus the README's additions) is copied next to it,
so neither the repository's `security/` nor the demo project can be imported by accident.
Real gunicorn and Dramatiq worker processes serve it on the test database and Redis.
"""

import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import requests
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from mirakuru import HTTPExecutor, SimpleExecutor

from security.models import RequestLog
from tests.conftest import EVERY_OPERATOR_PERMISSION, operator, rate_window_with_room, wait_for
from tests.processes import BIN, PYTHON, ROOT, free_port, log_file, process_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def installed_app(tmp_path_factory) -> Path:
    """The app as `pip install` puts it: built into a wheel, installed into its own folder."""
    build = tmp_path_factory.mktemp("wheel")
    source = build / "source"
    # Built from a copy, so the build leaves nothing in the working tree.
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", ".run", "node_modules", "*.sqlite3*"),
    )
    pip = [PYTHON, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(build), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = build.glob("django_ip_tracking-*.whl")
    site = build / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    shutil.copytree(ROOT / "tests" / "hostsite", site / "hostsite")
    return site


def host_env(site: Path) -> dict[str, str]:
    return process_env(DJANGO_SETTINGS_MODULE="hostsite.settings", PYTHONPATH=str(site))


def test_the_installed_wheel_carries_templates_static_files_and_migrations(installed_app: Path):
    app = installed_app / "security"
    for shipped in (
        "templates/security/base.html",
        "templates/security/ratelimited.html",
        "templates/security/dashboard.html",
        "static/security/vendor/chart.umd.min.js",
        "migrations/0001_initial.py",
        "tasks.py",
    ):
        assert (app / shipped).is_file(), shipped
    result = subprocess.run(
        [PYTHON, "-m", "django", "check", "--fail-level", "WARNING"],
        cwd=installed_app,
        env=host_env(installed_app) | {"GEOIP_PATH": str(installed_app)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    # The only warning is the missing GeoIP database, which no test ships.
    assert "ip_tracking.W001" in result.stderr
    assert re.findall(r"\((ip_tracking\.\w+)\)", result.stderr) == ["ip_tracking.W001"]
    where = subprocess.run(
        [PYTHON, "-c", "import security; print(security.__file__)"],
        cwd=installed_app,
        env=host_env(installed_app),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.stdout.startswith(str(installed_app))


def start_host_site(site: Path) -> tuple[HTTPExecutor, SimpleExecutor, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = host_env(site)
    web = HTTPExecutor(
        [str(BIN / "gunicorn"), "hostsite.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        url=url + "/",
        cwd=str(site),
        envvars=env,
        timeout=30,
        stdout=log_file("host-web"),
        stderr=log_file("host-web"),
    )
    worker = SimpleExecutor(
        [PYTHON, "-m", "django", "rundramatiq", "--processes", "1", "--threads", "2"],
        stop_signal=signal.SIGINT,
        cwd=str(site),
        envvars=env,
        timeout=30,
        stdout=log_file("host-worker"),
        stderr=log_file("host-worker"),
    )
    web.start()
    worker.start()
    return web, worker, url


def admin_login(session: requests.Session, url: str, username: str, password: str) -> int:
    page = session.get(url + "/admin/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = session.post(
        url + "/admin/login/",
        data={"csrfmiddlewaretoken": token, "username": username, "password": password},
        headers={"Referer": url + "/admin/login/"},
        allow_redirects=False,
        timeout=10,
    )
    return answer.status_code


def test_a_site_that_follows_the_readme_logs_blocks_limits_and_shows_the_dashboard(
    installed_app: Path,
):
    ops = operator("ops", *EVERY_OPERATOR_PERMISSION)
    ops.password = make_password("pw-ops-12345", hasher="pbkdf2_sha256")
    ops.save()
    web, worker, url = start_host_site(installed_app)
    try:
        # Requests are logged: the worker found the app's tasks by itself.
        assert requests.get(url + "/", timeout=10).text == "the host site's own page"
        requests.get(url + "/no-such-page/", timeout=10)
        wait_for(lambda: RequestLog.objects.filter(path="/no-such-page/").exists(), timeout=10)
        assert RequestLog.objects.get(path="/no-such-page/").status_code == 404

        # The dashboard renders from the app's own templates (the host has no base.html).
        operator_session = requests.Session()
        rate_window_with_room("127.0.0.1")  # this login and the five below share a window
        assert admin_login(operator_session, url, "ops", "pw-ops-12345") == 302
        dashboard = operator_session.get(url + "/security/dashboard/", timeout=10)
        assert dashboard.status_code == 200
        assert "Security dashboard" in dashboard.text
        data = operator_session.get(url + "/security/dashboard/data.json", timeout=10).json()
        assert data["total"] >= 2

        # The admin login is limited without any URLconf change: 5 POSTs a minute from one
        # address (the operator's login above was the first), then 429 with Retry-After.
        attacker = requests.Session()
        answers = [admin_login(attacker, url, "ops", f"guess-{i}") for i in range(5)]
        assert answers == [200] * 4 + [429]

        # A blocked client is turned away on every path, within seconds of block_ip.
        call_command("block_ip", "127.0.0.1")
        wait_for(lambda: requests.get(url + "/", timeout=10).status_code == 403, timeout=5)
        # Every web worker within seconds, on every path.
        wait_for(
            lambda: all(
                requests.get(url + path, timeout=10).status_code == 403
                for path in ["/admin/login/", "/", "/no-such-page/"] * 3
            ),
            timeout=5,
        )
    finally:
        web.stop()
        worker.stop()


def test_pip_install_into_a_fresh_virtualenv_gives_a_working_app(tmp_path):
    """What a newcomer types: a new virtualenv, `pip install` of the repository, the host
    site's checks pass and the worker's tasks import. Packages come from the package index."""
    venv = tmp_path / "venv"
    subprocess.run([PYTHON, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", ".run", "*.sqlite3*", "build"),
    )
    installed = subprocess.run(
        [*pip, "install", str(source), "dj-database-url", "psycopg[binary]"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    site = tmp_path / "site"
    shutil.copytree(ROOT / "tests" / "hostsite", site / "hostsite")
    env = process_env(DJANGO_SETTINGS_MODULE="hostsite.settings", GEOIP_PATH=str(tmp_path))
    env.pop("PYTHONPATH", None)
    python = str(venv / "bin" / "python")
    checked = subprocess.run(
        [python, "-m", "django", "check"],
        cwd=site,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr
    assert re.findall(r"\((ip_tracking\.\w+)\)", checked.stderr) == ["ip_tracking.W001"]
    imported = subprocess.run(
        [
            python,
            "-c",
            "import django; django.setup(); import security.tasks, security; "
            "print(security.__file__)",
        ],
        cwd=site,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith(str(venv))
