"""Settings for the benchmarks: the project's, on a benchmark database and Redis database."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "insecure-key-for-benchmarks-only")
os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ip_tracking_bench"
)
os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ["SECURITY_GEO_API_URL"] = ""
os.environ["DJANGO_SECURE_SSL_REDIRECT"] = "0"
os.environ["DJANGO_SECURE_COOKIES"] = "0"

from project.settings import *  # noqa: E402, F403

ROOT_URLCONF = "bench_urls"
LOGGING["root"]["level"] = "ERROR"  # noqa: F405
