"""Settings for the test suite: the project's settings on the test Redis and database."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"
RUN_DIR.mkdir(exist_ok=True)

os.environ.setdefault("DJANGO_SECRET_KEY", "insecure-key-for-the-test-suite-only")
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{RUN_DIR / 'test-sqlite.sqlite3'}")
# Tests never reach the real geolocation API or a real MaxMind database: they build their own.
os.environ["SECURITY_GEO_API_URL"] = ""
os.environ["GEOIP_PATH"] = str(RUN_DIR / "no-geoip")
os.environ["DJANGO_SECURE_SSL_REDIRECT"] = "0"
os.environ["DJANGO_SECURE_COOKIES"] = "0"

from project.settings import *  # noqa: E402, F403
from project.settings import DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that server and worker processes started by tests share it.
    DATABASES["default"]["TEST"] = {"NAME": str(RUN_DIR / "test-db.sqlite3")}

DRAMATIQ_BROKER = {
    "BROKER": "dramatiq.brokers.stub.StubBroker",
    "OPTIONS": {},
    "MIDDLEWARE": [
        "dramatiq.middleware.AgeLimit",
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.Callbacks",
        "dramatiq.middleware.Pipelines",
        "dramatiq.middleware.Retries",
        "django_dramatiq.middleware.DbConnectionsMiddleware",
        "periodiq.PeriodiqMiddleware",
    ],
}

# Fast hashing for users made in tests; PBKDF2 too, for users a server process must verify.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

STATIC_ROOT = RUN_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)

# In-process tests flush the log buffer themselves: a background flush in the middle of a test
# would race with its assertions. Server processes started by tests keep the project's interval.
SECURITY_LOG_FLUSH_INTERVAL = 3600.0
# Likewise the blocklist's background checks: in-process tests reload when they change blocks
# (as the admin and the commands do) or when a block expires; server processes keep 1 s.
SECURITY_BLOCKLIST_CHECK_INTERVAL = 3600.0
# An in-process drain ends as soon as the stream is empty (no test flushes while it waits).
SECURITY_LOG_DRAIN_LINGER = 0.0
