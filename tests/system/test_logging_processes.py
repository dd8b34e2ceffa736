"""Request logging end to end: gunicorn, the Dramatiq worker, Redis and the database."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from security.models import RequestLog
from security.requestlog.records import decode_batch
from tests.conftest import records_in_stream, wait_for
from tests.processes import free_port, start_web, start_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def gets() -> int:
    return RequestLog.objects.filter(method="GET", path="/").count()


def hit(url: str, count: int, threads: int = 16, ip: str | None = None) -> list[int]:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=threads)
    session.mount("http://", adapter)

    def one(index: int) -> int:
        return session.get(f"{url}/?n={index}", timeout=30).status_code

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


def test_a_request_is_a_row_within_five_seconds():
    server, url = start_web()
    worker = start_worker()
    try:
        # The five seconds are a running site's: the worker is up once a first record is stored
        # (its boot took up to 5 s alone on a loaded 2-core machine).
        requests.get(url + "/warm-up/", timeout=10)
        wait_for(lambda: RequestLog.objects.filter(path="/warm-up/").exists(), 30.0)
        assert requests.get(url + "/", timeout=10).status_code == 200
        # The readiness probe of the server was logged too; we wait for ours.
        # The server's readiness probes are HEAD requests; ours is the one GET.
        wait_for(lambda: RequestLog.objects.filter(method="GET", path="/").exists(), 5.0)
    finally:
        server.stop()
        worker.stop()


def test_concurrent_requests_are_logged_exactly_once_even_across_a_worker_outage(redis_client):
    server, url = start_web()
    worker = start_worker()
    try:
        assert hit(url, 1000) == [200] * 1000
        wait_for(lambda: gets() >= 1000, 30.0)
        worker.stop()
        assert gets() == 1000

        assert hit(url, 200) == [200] * 200
        wait_for(lambda: records_in_stream(redis_client) >= 200, 10.0)
        assert gets() == 1000  # nothing drains while the worker is down

        worker.start()
        wait_for(lambda: gets() >= 1200, 30.0)
    finally:
        server.stop()
        worker.stop()
    # Exactly once: 1,200 requests, 1,200 rows.
    assert gets() == 1200
    assert redis_client.xlen("security:requestlog") == 0


def test_requests_with_redis_unreachable_are_all_in_the_database():
    closed_port = free_port()
    server, url = start_web(REDIS_URL=f"redis://127.0.0.1:{closed_port}/0")
    try:
        assert hit(url, 50, threads=8) == [200] * 50
        wait_for(lambda: gets() >= 50, 10.0)
    finally:
        server.stop()  # stopping flushes what each process still holds
    assert gets() == 50


def test_records_still_in_memory_are_flushed_when_the_server_stops(redis_client):
    server, url = start_web(SECURITY_LOG_FLUSH_INTERVAL="600")
    try:
        assert hit(url, 30, threads=4) == [200] * 30
        assert records_in_stream(redis_client) == 0  # nothing flushed on the timer yet
    finally:
        server.stop()  # SIGTERM: each worker exits and flushes at exit
    flushed = [
        record
        for _id, fields in redis_client.xrange("security:requestlog")
        for record in decode_batch(fields[b"b"])
        if record.method == "GET"
    ]
    assert len(flushed) == 30
