"""What a load balancer needs to know about this process, and nothing more.

The process serves while the blocklist copy is loaded: without Redis it logs straight to the
database and reloads the blocklist from there, without the database it holds its records and
keeps its copy. So "ok" and "degraded" both answer 200 (take the host out only if you prefer a
healthy one), and only a process that never loaded its blocklist (every page a 503) is
"unavailable". No error text, host name or address is shown.
"""

from django.db import DatabaseError, connection
from redis.exceptions import RedisError

from .blocking.blocklist import blocklist
from .redis_client import get_redis


def redis_up() -> bool:
    try:
        return bool(get_redis().ping())
    except RedisError:
        return False


def database_up() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True
    except DatabaseError:
        connection.close()
        return False


def state() -> tuple[int, dict[str, str]]:
    """(HTTP status, report)."""
    report = {
        "redis": "up" if redis_up() else "down",
        "database": "up" if database_up() else "down",
        "blocklist": "loaded" if blocklist.loaded else "not loaded",
    }
    if not blocklist.loaded:
        return 503, {"status": "unavailable", **report}
    degraded = report["redis"] == "down" or report["database"] == "down"
    return 200, {"status": "degraded" if degraded else "ok", **report}
