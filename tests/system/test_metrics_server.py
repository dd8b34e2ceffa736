"""Metrics of a multi-process gunicorn, merged the way prometheus_client documents."""

import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import start_web

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TOKEN = "scrape-token-for-tests"


def test_one_scrape_counts_the_requests_of_every_worker_process(tmp_path):
    server, url = start_web(
        workers=2, PROMETHEUS_MULTIPROC_DIR=str(tmp_path), SECURITY_METRICS_TOKEN=TOKEN
    )
    try:
        for _ in range(60):
            assert requests.get(f"{url}/", timeout=10).status_code == 200  # a new connection each
        time.sleep(2)  # outcomes are counted when each process flushes its log buffer (1 s)
        page = requests.get(
            f"{url}/security/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
    finally:
        server.stop()
    assert page.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(page.text)}
    served = [
        s.value
        for s in families["ip_tracking_requests"].samples
        if s.labels == {"outcome": "served"}
    ]
    # Both processes' counts, summed: ours and the start-up check's GET /, not the scrape itself.
    assert served == [61.0]
    pids = {s.labels["pid"] for s in families["ip_tracking_blocklist_networks"].samples}
    assert len(pids) == 2
