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
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.core.management import call_command
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from mirakuru import HTTPExecutor, SimpleExecutor
from playwright.sync_api import sync_playwright

from security.models import RequestLog
from tests.conftest import EVERY_OPERATOR_PERMISSION, operator, rate_window_with_room, wait_for
from tests.processes import BIN, PYTHON, ROOT, free_port, log_file, process_env
from tests.system.test_analytics_browser import PAINTED
from tests.system.test_browser import CHROMIUM, CHROMIUM_ARGS

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
    subprocess.run(  # README: a site with DEBUG off collects its static files once per release
        [PYTHON, "-m", "django", "collectstatic", "--noinput", "-v", "0"],
        cwd=site,
        env=host_env(site),
        check=True,
        capture_output=True,
        timeout=120,
    )
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
        "management/commands/update_geodb.py",
        "py.typed",
    ):
        assert (app / shipped).is_file(), shipped
    assert any((app / "detection" / "signatures").glob("*.txt"))
    # The command the GeoIP warning names runs from the wheel (no scripts/ in a host site).
    fetched = subprocess.run(
        [PYTHON, "-m", "django", "update_geodb"],
        cwd=installed_app,
        env=host_env(installed_app) | {"GEOIP_PATH": str(installed_app)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert fetched.returncode == 1
    assert "set MAXMIND_ACCOUNT_ID and MAXMIND_LICENSE_KEY" in fetched.stderr
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
        [
            PYTHON,
            "-c",
            "import importlib.metadata, security; print(security.__file__); "
            "print(security.__version__, importlib.metadata.version('django-ip-tracking'))",
        ],
        cwd=installed_app,
        env=host_env(installed_app),
        capture_output=True,
        text=True,
        timeout=60,
    )
    path, versions = where.stdout.splitlines()
    assert path.startswith(str(installed_app))
    # One version, written once: the wheel's metadata is the package's __version__.
    ours, installed = versions.split()
    assert ours == installed and re.fullmatch(r"\d+\.\d+\.\d+", ours)


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


def assert_console_draws(url: str, session_id: str) -> None:
    """What a browser gets: the dashboard's charts paint, the address page has its styles."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.add_cookies([{"name": "sessionid", "value": session_id, "url": url}])
        page = context.new_page()
        failed: list[str] = []
        page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
        page.goto(url + "/security/dashboard/")
        page.wait_for_selector("#dashboard[data-loaded='true']", timeout=20_000)
        assert page.evaluate(PAINTED, "chart-series") > 1000
        assert page.evaluate(PAINTED, "chart-status") > 1000
        page.goto(url + "/security/ip/127.0.0.1/")
        colour = page.eval_on_selector("#verdict", "e => getComputedStyle(e).backgroundColor")
        assert colour not in ("rgba(0, 0, 0, 0)", "transparent")  # console.css arrived
        browser.close()
    assert failed == []


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
        assert_console_draws(url, operator_session.cookies["sessionid"])

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


def test_a_viewer_of_the_request_log_cannot_use_a_reset_link_someone_opened(
    installed_app: Path,
):
    """A staff user who may only read the log searches it for `reset`: the owner's link,
    opened a moment ago (a mail scanner prefetching it is enough), is not there to reuse."""
    owner = User.objects.create_superuser("owner", "owner@example.org", "owner-pw-12345")
    uid = urlsafe_base64_encode(force_bytes(owner.pk))
    token = default_token_generator.make_token(owner)
    link = f"/accounts/reset/{uid}/{token}/"
    viewer = operator("viewer", "security.view_requestlog")
    viewer.password = make_password("pw-viewer-12345", hasher="pbkdf2_sha256")
    viewer.save()
    web, worker, url = start_host_site(installed_app)
    try:
        opened = requests.get(url + link + "?utm_source=mail&token=also-secret", timeout=10)
        assert opened.status_code == 200  # redirected to the set-password form: a live link
        wait_for(lambda: RequestLog.objects.filter(path__startswith="/accounts/reset/").exists())
        rate_window_with_room("127.0.0.1")
        session = requests.Session()
        assert admin_login(session, url, "viewer", "pw-viewer-12345") == 302
        found = session.get(url + "/admin/security/requestlog/?q=reset", timeout=10)
        assert found.status_code == 200 and "/accounts/reset/" in found.text
        assert token not in found.text and "[masked]" in found.text
        stored = RequestLog.objects.filter(path__startswith="/accounts/reset/")
        assert all(token not in row.path + row.query + row.referer for row in stored)
        assert all("also-secret" not in row.query for row in stored)
        dashboard = session.get(url + "/security/dashboard/data.json", timeout=10).text
        assert token not in dashboard
        # What the viewer could copy from the log opens no form.
        copied = requests.get(url + stored.order_by("timestamp")[0].path, timeout=10)
        assert "The password reset link was invalid" in copied.text
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
        [*pip, "install", str(source), "dj-database-url", "psycopg[binary]", "whitenoise"],
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
    collected = subprocess.run(
        [python, "-m", "django", "collectstatic", "--noinput", "-v", "0"],
        cwd=site,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collected.returncode == 0, collected.stderr
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
