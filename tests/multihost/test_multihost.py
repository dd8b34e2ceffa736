"""Many hosts, one truth: the site of site.py under traffic, partitions and lost hosts.

Every fault is made while requests keep coming, and every one ends with the same checks: each
answered request is exactly one RequestLog row, and the dashboard's rollups count exactly the
rows. Figures (times, counts) are printed as the tests go and again at the end
(`scripts/test.sh` runs this module once, after the suites, with -s).
"""

import http.client
import itertools
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from .network import why_unavailable
from .site import CLAIM_IDLE_SECONDS, Site, request

pytestmark = pytest.mark.multihost

SHORT_CUT = CLAIM_IDLE_SECONDS - 2  # shorter than the claim time
LONG_CUT = CLAIM_IDLE_SECONDS + 9  # longer than the claim time and the drain's time-outs
FIGURES: list[str] = []


def figure(text: str) -> None:
    FIGURES.append(text)
    print(f"\n  [multi-host] {text}", flush=True)


@pytest.fixture(scope="module")
def site():
    reason = why_unavailable()
    if reason:
        pytest.skip(f"the multi-host test needs network namespaces: {reason}")
    site = Site()
    try:
        site.up()
        yield site
    finally:
        site.down()
        print("\n\nmulti-host figures:\n" + "\n".join(f"  {line}" for line in FIGURES))


def poll(condition: Callable[[], object], timeout: float, interval: float = 0.1) -> float:
    """Seconds until condition() held; fails after timeout."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout}s")
        time.sleep(interval)
    return time.monotonic() - started


class Traffic:
    """Steady requests over both web hosts, each to a path of its own (/mh/<tag>/<seq>)."""

    def __init__(self, site: Site, tag: str, rate: float = 240, threads: int = 6) -> None:
        self.site, self.tag, self.threads = site, tag, threads
        self.interval = threads / rate
        self.sequence = itertools.count()
        self.answered: list[tuple[int, float]] = []  # (seq, time answered)
        self.failures: list[str] = []
        self.stopping = threading.Event()
        self.workers = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]
        self.lock = threading.Lock()

    def run(self) -> None:
        addresses = [self.site.host(h).address("front") for h in ("web1", "web2")]
        connections = {a: http.client.HTTPConnection(a, 8000, timeout=15) for a in addresses}
        while not self.stopping.is_set():
            started = time.monotonic()
            seq = next(self.sequence)
            address = addresses[seq % 2]
            client = f"198.18.{seq % 250}.{seq % 200 + 1}"
            try:
                status = self.send(address, seq, client, connections)
            except OSError as error:
                with self.lock:
                    self.failures.append(f"{type(error).__name__}: {error}")
                continue
            with self.lock:
                if status == 404:  # the demo has no such page: a normal, logged answer
                    self.answered.append((seq, time.monotonic()))
                else:
                    self.failures.append(f"HTTP {status}")
            time.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    def send(self, address: str, seq: int, client: str, connections: dict) -> int:
        path = f"/mh/{self.tag}/{seq}"
        try:
            return request(address, path, client, connection=connections[address])
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed an idle keep-alive connection before reading this request (as
            # any HTTP client, send it again on a new connection).
            connections[address].close()
            connections[address] = http.client.HTTPConnection(address, 8000, timeout=15)
            return request(address, path, client, connection=connections[address])

    def __enter__(self) -> "Traffic":
        for worker in self.workers:
            worker.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stopping.set()
        for worker in self.workers:
            worker.join(20)

    def answered_before(self, moment: float) -> list[int]:
        with self.lock:
            return [seq for seq, at in self.answered if at < moment]


def stored(site: Site, tag: str, up_to: int | None = None) -> tuple[int, int]:
    """(rows, distinct paths) of a tag, optionally only sequences <= up_to."""
    extra = "" if up_to is None else " AND split_part(path, '/', 4)::int <= %s"
    params = [f"/mh/{tag}/%"] + ([] if up_to is None else [up_to])
    rows = site.sql(
        "SELECT count(*), count(DISTINCT path) FROM security_requestlog WHERE path LIKE %s" + extra,
        *params,
    )
    return rows[0]


def counted(site: Site, tag: str) -> int:
    rows = site.sql(
        "SELECT coalesce(sum(count), 0) FROM security_requestrollup "
        "WHERE kind = 'path' AND key LIKE %s",
        f"/mh/{tag}/%",
    )
    return int(rows[0][0])


def assert_exact(site: Site, tag: str, traffic: Traffic, timeout: float = 60) -> None:
    """Every answered request one row, the rollups counting exactly the rows."""
    expected = len(traffic.answered)
    assert not traffic.failures, f"requests not answered normally: {traffic.failures[:5]}"
    poll(lambda: stored(site, tag)[0] >= expected, timeout, 0.3)
    rows, distinct = stored(site, tag)
    poll(lambda: counted(site, tag) >= rows, 15, 0.3)
    in_rollups = counted(site, tag)
    totals = site.sql(
        "SELECT (SELECT count(*) FROM security_requestlog), "
        "(SELECT coalesce(sum(count), 0) FROM security_requestrollup WHERE kind = 'total')"
    )[0]
    figure(
        f"{tag}: {expected} answered, {rows} rows, {rows - distinct} duplicated, "
        f"{expected - distinct} lost; rollups {in_rollups} for {rows} rows "
        f"(site: {totals[1]} counted, {totals[0]} rows)"
    )
    assert (rows, distinct) == (expected, expected)
    assert in_rollups == rows
    assert totals[1] == totals[0]


def heal_wait(site: Site, tag: str, traffic: Traffic, healed_at: float) -> float:
    """Seconds after the heal until every request answered before it was stored."""
    before = traffic.answered_before(healed_at)
    last = max(before)
    poll(lambda: stored(site, tag, last)[1] >= len(before), 60, 0.2)
    return time.monotonic() - healed_at


def session_states(site: Site, host: str) -> list[str]:
    address = site.host(host).address("pg")
    return [
        state
        for (state,) in site.sql(
            "SELECT state FROM pg_stat_activity WHERE client_addr = %s AND datname = 'ipt' "
            "AND xact_start IS NOT NULL",
            address,
        )
    ]


def test_every_request_is_logged_once_across_hosts(site):
    with Traffic(site, "exact", rate=800, threads=12) as traffic:
        time.sleep(12)
    expected = len(traffic.answered)
    delay = poll(lambda: stored(site, "exact")[0] >= expected, 60, 0.1)
    figure(
        f"exact logging: {expected} requests over 2 web hosts, all rows {delay:.2f}s after the last"
    )
    assert_exact(site, "exact", traffic)


def test_a_block_reaches_every_web_process_on_every_host(site):
    result = site.manage("sch1", "block_ip", "198.51.100.7", "--reason", "multi-host test")
    assert result.returncode == 0, result.stderr

    def refused_everywhere() -> bool:
        # Eight answers per host reach both of its gunicorn workers (new connection each time).
        return all(
            request(site.host(h).address("front"), "/", "198.51.100.7") == 403
            for h in ("web1", "web2")
            for _ in range(8)
        )

    seconds = poll(refused_everywhere, 10, 0.05)
    figure(
        f"block propagation: every process of both web hosts refused {seconds:.2f}s after block_ip"
    )


@pytest.mark.parametrize("client", ["203.0.113.50", "2001:db8:77:1::{n}"])
def test_the_login_limit_is_shared_by_the_hosts(site, client):
    statuses = []
    for n in range(1, 7):
        host = ("web1", "web2")[n % 2]
        address = client.format(n=n)  # IPv6: a new address of the same /64 each time
        statuses.append(request(site.host(host).address("front"), "/login/", address, "POST"))
    figure(f"shared login limit ({client}): answers {statuses}")
    assert 429 not in statuses[:5]
    assert statuses[5] == 429


@pytest.mark.parametrize("seconds", [SHORT_CUT, LONG_CUT])
def test_a_web_host_cut_from_redis(site, seconds):
    tag = f"web-redis-{seconds}"
    blocked = f"198.51.100.{seconds + 100}"
    with Traffic(site, tag) as traffic:
        time.sleep(2)
        site.network.cut("web1", "redis")
        time.sleep(1)
        result = site.manage("sch1", "block_ip", blocked)
        assert result.returncode == 0, result.stderr
        made = time.monotonic()
        address = site.host("web1").address("front")
        reached = poll(
            lambda: all(request(address, "/", blocked) == 403 for _ in range(8)), seconds + 10, 0.1
        )
        remaining = seconds - (time.monotonic() - made) - 1
        time.sleep(max(0.0, remaining))
        site.network.heal("web1", "redis")
        healed = time.monotonic()
        waited = heal_wait(site, tag, traffic, healed)
        time.sleep(1)
    figure(
        f"web1 cut from Redis {seconds}s: a block made during the cut refused on web1 after "
        f"{reached:.2f}s; records waited {waited:.2f}s after the heal"
    )
    assert reached <= 5
    assert waited <= 5
    assert_exact(site, tag, traffic)


def partitioned(site: Site, tag: str, host: str, network: str, seconds: float) -> Traffic:
    """Traffic while host is cut from network for seconds; every record within 5 s of the heal."""
    with Traffic(site, tag) as traffic:
        time.sleep(2)
        site.network.cut(host, network)
        time.sleep(seconds)
        site.network.heal(host, network)
        waited = heal_wait(site, tag, traffic, time.monotonic())
        time.sleep(1)
    figure(f"{host} cut from {network} {seconds}s: records waited {waited:.2f}s after the heal")
    assert waited <= 5
    return traffic


def test_a_web_host_cut_from_postgresql(site):
    traffic = partitioned(site, "web-pg", "web1", "pg", 8)
    assert_exact(site, "web-pg", traffic)


def cut_mid_transaction(site: Site, host: str, *networks: str) -> str:
    """Cut the host while one of its database sessions is inside a transaction (checked again
    once the cut is made; if the transaction ended first, heal and try again)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = session_states(site, host)
        if not states:
            time.sleep(0.005)
            continue
        site.network.cut(host, *networks)
        if session_states(site, host):
            return states[0]
        site.network.heal(host, *networks)
    raise AssertionError(f"{host} was never cut inside a transaction")


@pytest.mark.parametrize("seconds", [SHORT_CUT, LONG_CUT])
def test_a_worker_cut_from_postgresql_mid_transaction(site, seconds):
    tag = f"wk-pg-{seconds}"
    with Traffic(site, tag) as traffic:
        time.sleep(2)
        state = cut_mid_transaction(site, "wk1", "pg")
        time.sleep(seconds)
        during = traffic.answered_before(time.monotonic() - 2)
        stored_during = stored(site, tag, max(during))[1]
        site.network.heal("wk1", "pg")
        waited = heal_wait(site, tag, traffic, time.monotonic())
        time.sleep(1)
    share = stored_during / len(during)
    figure(
        f"wk1 cut from PostgreSQL {seconds}s while its session was '{state}': "
        f"{stored_during} of {len(during)} requests stored during the cut ({share:.1%}); "
        f"records waited {waited:.2f}s after the heal"
    )
    if seconds == LONG_CUT:
        assert share >= 0.9, "one cut worker stalled the others"
    assert waited <= 5
    assert_exact(site, tag, traffic)


def test_a_worker_cut_from_redis(site):
    traffic = partitioned(site, "wk-redis", "wk1", "redis", LONG_CUT)
    assert_exact(site, "wk-redis", traffic)


def test_a_worker_host_lost_mid_transaction(site):
    tag = "wk-lost"
    with Traffic(site, tag) as traffic:
        time.sleep(2)
        state = cut_mid_transaction(site, "wk2")  # every leg: no FIN, no RST ever arrives
        site.signal("wk2", signal.SIGKILL)
        lost_at = time.monotonic()
        ended = poll(lambda: not session_states(site, "wk2"), 60, 0.2)
        time.sleep(max(0.0, 20 - (time.monotonic() - lost_at)))
        during = traffic.answered_before(time.monotonic() - 2)
        stored_during = stored(site, tag, max(during))[1]
    share = stored_during / len(during)
    figure(
        f"wk2 host lost while its session was '{state}': PostgreSQL ended the transaction "
        f"after {ended:.1f}s; {stored_during} of {len(during)} requests stored in the 20s "
        f"after ({share:.1%}) by wk1 alone"
    )
    assert share >= 0.9, "a lost worker stalled the others"
    assert_exact(site, tag, traffic)
    site.processes.pop("wk2")
    site.network.heal("wk2")
    site.start_worker("wk2")


def lock_taken_count(site: Site, host: str) -> int:
    return site.log(host).count("scheduler lock taken")


def test_scheduler_failover_and_every_slot_once(site):
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    # The last anomaly scan ran three hours ago: the slots since are owed, each once.
    site.sql(
        "INSERT INTO security_scheduledrun (job, slot, sent_at, sends, finished_at) "
        "VALUES ('detect_anomalies', %s, %s, 1, %s)",
        hour - timedelta(hours=3),
        now,
        now,
    )
    started = now.replace(second=0, microsecond=0)
    site.start_scheduler("sch1")
    poll(lambda: lock_taken_count(site, "sch1") == 1, 30)
    site.start_scheduler("sch2")
    poll(lambda: "standing by" in site.log("sch2"), 30)

    # A crash, just before a minute turns: the lock is left to expire, and the new scheduler
    # must still send the slot that came while none was active.
    poll(lambda: datetime.now(UTC).second >= 57, 65, 0.05)
    site.signal("sch1", signal.SIGKILL)
    after_crash = poll(lambda: lock_taken_count(site, "sch2") == 1, 20, 0.05)
    site.processes.pop("sch1")
    site.start_scheduler("sch1")
    poll(lambda: "standing by" in site.log("sch1").split("scheduler lock taken")[-1], 30)

    # A stop: the lock is released on the way out.
    site.signal("sch2", signal.SIGTERM)
    after_stop = poll(lambda: lock_taken_count(site, "sch1") == 2, 20, 0.05)
    figure(
        f"scheduler failover: {after_crash:.2f}s after SIGKILL of the active one, "
        f"{after_stop:.2f}s after SIGTERM"
    )
    assert after_crash <= 10
    assert after_stop <= 10

    def scans_done() -> bool:
        rows = site.sql(
            "SELECT count(*) FROM security_scheduledrun WHERE job = 'detect_anomalies' "
            "AND slot > %s AND finished_at IS NOT NULL",
            hour - timedelta(hours=3),
        )
        return rows[0][0] == 3

    poll(scans_done, 120, 0.5)
    # Let a minute turn over under the new scheduler, then check every minute had its drain.
    ending = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    poll(lambda: datetime.now(UTC) > ending + timedelta(seconds=5), 70, 0.5)
    slots = {
        slot
        for (slot,) in site.sql(
            "SELECT slot FROM security_scheduledrun WHERE job = 'drain_request_logs' "
            "AND slot > %s AND slot <= %s",
            started,
            ending,
        )
    }
    minutes = {
        started + timedelta(minutes=n + 1) for n in range(int((ending - started).seconds // 60))
    }
    runs = site.sql(
        "SELECT job, slot, sends FROM security_scheduledrun WHERE slot > %s ORDER BY slot",
        hour - timedelta(hours=3),
    )
    resent = [r for r in runs if r[2] != 1]
    hourly = [r[1].strftime("%H:%M") for r in runs if r[0] == "detect_anomalies"]
    figure(
        f"slots: anomaly scans owed since {(hour - timedelta(hours=3)):%H:%M} ran once each "
        f"({', '.join(hourly)}); {len(slots)} of {len(minutes)} drain minutes sent across two "
        f"takeovers, {len(resent)} sent twice"
    )
    assert minutes <= slots
    assert not resent
