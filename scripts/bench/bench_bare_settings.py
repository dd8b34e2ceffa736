"""The benchmark settings without the security middleware: the hot path's baseline."""

from bench_settings import *  # noqa: F403
from bench_settings import MIDDLEWARE

MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("security.")]
