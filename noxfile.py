"""The version matrix: the whole suite on SQLite for each Django release the package claims, on
each Python that release supports. By hand: `.venv/bin/nox` (all cells, one after another) or
`.venv/bin/nox -s "tests(python='3.13', django='6.1')"`; extra arguments go to pytest after `--`.
scripts/test.sh runs the LTS suites in .venv, and the newest cell on PostgreSQL through the
newest_on_postgresql session here.

Each cell installs requirements-dev.txt (the tested pins) and then the Django release of the
cell. Needs the redis server that tests/settings.py reaches (TEST_REDIS_URL).
"""

import glob
import os
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
# The newest patch release of each minor Django that pyproject.toml's range admits. Django 6.x
# needs Python 3.12 or newer.
DJANGO = {"5.2": "Django==5.2.19", "6.0": "Django==6.0.10", "6.1": "Django==6.1.3"}
PYTHONS = {"5.2": ["3.11", "3.12", "3.13"], "6.0": ["3.12", "3.13"], "6.1": ["3.12", "3.13"]}
CELLS = [(python, django) for django, pythons in PYTHONS.items() for python in pythons]
NEWEST = "6.1"

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

# pyenv's builds are found by their version folders, so no `pyenv global` is needed.
for folder in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[1-9]*/bin"))):
    os.environ["PATH"] = f"{os.environ['PATH']}{os.pathsep}{folder}"


@nox.session
@nox.parametrize(("python", "django"), CELLS)
def tests(session: nox.Session, django: str) -> None:
    install(session, django)
    run_dir = ROOT / ".run"
    run_dir.mkdir(exist_ok=True)
    database = run_dir / f"nox-py{session.python}-dj{django}.sqlite3"
    run_suite(session, f"sqlite:///{database}")


@nox.session(python=PYTHONS[NEWEST][-1])
def newest_on_postgresql(session: nox.Session) -> None:
    """The newest Django on the newest Python, on PostgreSQL (TEST_DATABASE_URL)."""
    install(session, NEWEST)
    # The default is scripts/test.sh's.
    run_suite(
        session, os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    )


def install(session: nox.Session, django: str) -> None:
    session.install("-r", "requirements-dev.txt")
    session.install(DJANGO[django])


def run_suite(session: nox.Session, database_url: str) -> None:
    env = {"DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
    session.run("python", "-m", "pytest", "-q", *session.posargs, env=env)
