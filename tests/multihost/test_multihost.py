"""Many hosts, one truth: the site of site.py under traffic, partitions, lost and stopped hosts,
and a Redis failover, all with the app's default settings.

Every fault is made while requests keep coming, and every one ends with the same checks: each
answered request is exactly one RequestLog row, and the dashboard's rollups count exactly the
rows. Every cut is healed, and every record answered before the heal is a row within 5 s of it,
whatever the cut (network.CUTS). Figures (times, counts) are printed as the tests go and again
at the end (`scripts/test.sh` runs this module once, after the suites, with -s).
"""

import http.client
import itertools
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from security.blocking.blocklist import VERSION_KEY
from security.management.commands.runscheduler import LOCK_KEY as SCHEDULER_LOCK_KEY
from security.metrics import COUNTERS_KEY
from security.requestlog.consumers import ALIVE_SECONDS

from .network import why_unavailable
from .site import REDIS_SERVERS, Site, request

pytestmark = pytest.mark.multihost

SHORT_CUT = 3  # shorter than every time-out on either side
LONG_CUT = 14  # longer than the drain's time-outs (5 s client-side, 10 s server-side)
HEAL_BOUND = 5  # seconds after a heal by which every record answered before it is a row
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


@pytest.mark.parametrize(
    ("how", "seconds"), [("link", SHORT_CUT), ("link", LONG_CUT), ("blackhole", LONG_CUT)]
)
def test_a_web_host_cut_from_redis(site, how, seconds):
    tag = f"web-redis-{how}-{seconds}"
    blocked = f"198.51.100.{seconds + 100 + len(how)}"
    with Traffic(site, tag) as traffic:
        time.sleep(2)
        site.network.cut("web1", "redis", how=how)
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
        f"web1 cut from Redis ({how}) {seconds}s: a block made during the cut refused on web1 "
        f"after {reached:.2f}s; records waited {waited:.2f}s after the heal"
    )
    assert reached <= 5
    assert waited <= HEAL_BOUND
    assert_exact(site, tag, traffic)


def partitioned(
    site: Site, tag: str, host: str, network: str, seconds: float, how: str = "link"
) -> Traffic:
    """Traffic while host is cut from network for seconds; every record within 5 s of the heal."""
    with Traffic(site, tag) as traffic:
        time.sleep(2)
        site.network.cut(host, network, how=how)
        time.sleep(seconds)
        site.network.heal(host, network)
        waited = heal_wait(site, tag, traffic, time.monotonic())
        time.sleep(1)
    figure(
        f"{host} cut from {network} ({how}) {seconds}s: records waited {waited:.2f}s after the heal"
    )
    assert waited <= HEAL_BOUND
    return traffic


def test_a_web_host_cut_from_postgresql(site):
    traffic = partitioned(site, "web-pg", "web1", "pg", 8)
    assert_exact(site, "web-pg", traffic)


def cut_mid_transaction(site: Site, host: str, *networks: str, how: str = "link") -> str:
    """Cut the host while one of its database sessions is inside a transaction (checked again
    once the cut is made; if the transaction ended first, heal and try again)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = session_states(site, host)
        if not states:
            time.sleep(0.005)
            continue
        site.network.cut(host, *networks, how=how)
        if session_states(site, host):
            return states[0]
        site.network.heal(host, *networks)
    raise AssertionError(f"{host} was never cut inside a transaction")


@pytest.mark.parametrize(
    ("how", "seconds"),
    [("link", SHORT_CUT), ("link", LONG_CUT), ("blackhole", LONG_CUT), ("loss", LONG_CUT)],
)
def test_a_worker_cut_from_postgresql_mid_transaction(site, how, seconds):
    tag = f"wk-pg-{how}-{seconds}"
    with Traffic(site, tag) as traffic:
        time.sleep(2)
        state = cut_mid_transaction(site, "wk1", "pg", how=how)
        time.sleep(seconds)
        during = traffic.answered_before(time.monotonic() - 2)
        stored_during = stored(site, tag, max(during))[1]
        site.network.heal("wk1", "pg")
        waited = heal_wait(site, tag, traffic, time.monotonic())
        time.sleep(1)
    share = stored_during / len(during)
    figure(
        f"wk1 cut from PostgreSQL ({how}) {seconds}s while its session was '{state}': "
        f"{stored_during} of {len(during)} requests stored during the cut ({share:.1%}); "
        f"records waited {waited:.2f}s after the heal"
    )
    if seconds == LONG_CUT:
        # What the cut worker holds is late by the time its connection takes to give up, and
        # nothing else is: the other worker's drain keeps going while traffic lasts, and a
        # wake-up that sits with the cut worker is sent again (stream.DRAIN_PENDING_SECONDS).
        assert share >= 0.9, "one cut worker stalled the others"
    assert waited <= HEAL_BOUND
    assert_exact(site, tag, traffic)


@pytest.mark.parametrize("how", ["link", "blackhole"])
def test_a_worker_cut_from_redis(site, how):
    traffic = partitioned(site, f"wk-redis-{how}", "wk1", "redis", LONG_CUT, how)
    assert_exact(site, f"wk-redis-{how}", traffic)


def stopped(site: Site, tag: str, name: str, seconds: float) -> tuple[Traffic, float]:
    """Traffic while the process group `name` is stopped (SIGSTOP): a peer that stops answering,
    its connections open and its kernel still acknowledging, until SIGCONT."""
    with Traffic(site, tag) as traffic:
        time.sleep(2)
        site.signal(name, signal.SIGSTOP)
        time.sleep(seconds)
        site.signal(name, signal.SIGCONT)
        waited = heal_wait(site, tag, traffic, time.monotonic())
        time.sleep(1)
    return traffic, waited


def test_a_worker_that_stops_answering(site):
    # Longer than a heartbeat's life: the other worker takes over what wk1 held.
    traffic, waited = stopped(site, "wk-stopped", "wk1", LONG_CUT)
    figure(f"wk1 stopped (SIGSTOP) {LONG_CUT}s: records waited {waited:.2f}s after SIGCONT")
    assert LONG_CUT > ALIVE_SECONDS
    assert waited <= HEAL_BOUND
    assert_exact(site, "wk-stopped", traffic)


def test_a_database_that_stops_answering(site):
    traffic, waited = stopped(site, "pg-stopped", "pg", 8)
    figure(f"PostgreSQL stopped (SIGSTOP) 8s: records waited {waited:.2f}s after SIGCONT")
    assert waited <= HEAL_BOUND
    assert_exact(site, "pg-stopped", traffic)


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


class Refusals:
    """A blocked client knocking on both web hosts all along; every answer it got."""

    def __init__(self, site: Site, client: str) -> None:
        self.site, self.client = site, client
        self.answers: list[int | str] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        for n in itertools.count():
            if self.stopping.is_set():
                return
            address = self.site.host(("web1", "web2")[n % 2]).address("front")
            try:
                self.answers.append(request(address, "/", self.client))
            except OSError as error:
                self.answers.append(type(error).__name__)
            time.sleep(0.05)

    def __enter__(self) -> "Refusals":
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stopping.set()
        self.thread.join(20)


def refused_everywhere(site: Site, client: str) -> bool:
    return all(
        request(site.host(h).address("front"), "/", client) == 403
        for h in ("web1", "web2")
        for _ in range(8)
    )


def test_the_redis_primary_killed_under_load(site):
    """SIGKILL of the primary while requests come: the Sentinels promote the replica, and every
    part of the site (log flushes and drains, the broker, the blocklist version, rate limits,
    the scheduler lock) finds the new primary by itself."""
    tag = "failover"
    if not any(site.running(name) for name in ("sch1", "sch2")):  # run alone (-k)
        site.start_scheduler("sch1")
        poll(lambda: lock_taken_count(site, "sch1") >= 1, 30)
    new_primary = REDIS_SERVERS["redis2"]
    assert site.primary() == REDIS_SERVERS["redis"]
    replica = site.redis(new_primary)
    blocked_before, blocked_after = "198.51.100.240", "198.51.100.241"
    assert site.manage("sch1", "block_ip", blocked_before).returncode == 0
    poll(lambda: refused_everywhere(site, blocked_before), 10, 0.1)
    version_then = replica.get(VERSION_KEY)
    with Traffic(site, tag) as traffic, Refusals(site, blocked_before) as refusals:
        time.sleep(3)
        site.kill("redis")
        killed = time.monotonic()
        # An operator blocks an address in the middle of it (the command's own start included).
        command: dict = {}
        operator = threading.Thread(
            target=lambda: command.update(
                result=site.manage("sch1", "block_ip", blocked_after), done=time.monotonic()
            )
        )
        operator.start()
        promoted = poll(lambda: site.primary() == new_primary, 30, 0.1)
        drained_then = int(replica.hget(COUNTERS_KEY, "drained") or 0)
        # Rows drained through the new primary: web flushes, the broker's wake-ups, drains.
        poll(lambda: int(replica.hget(COUNTERS_KEY, "drained") or 0) > drained_then, 30, 0.1)
        logs_back = time.monotonic() - killed
        poll(lambda: replica.exists(SCHEDULER_LOCK_KEY), 30, 0.1)
        lock_back = time.monotonic() - killed
        bursts = itertools.count(1)

        def limited() -> bool:  # a fresh client's sixth login POST is refused
            client = f"203.0.113.{next(bursts) + 80}"
            fronts = [site.host(h).address("front") for h in ("web1", "web2")]
            statuses = [request(fronts[n % 2], "/login/", client, "POST") for n in range(6)]
            return 429 not in statuses[:5] and statuses[5] == 429

        poll(limited, 30, 0.1)
        limit_back = time.monotonic() - killed
        operator.join(60)
        assert command["result"].returncode == 0, command["result"].stderr
        poll(lambda: refused_everywhere(site, blocked_after), 30, 0.1)
        block_back = time.monotonic() - command["done"]
        # The command told every process through the new primary, not only the database.
        assert replica.get(VERSION_KEY) != version_then
        time.sleep(3)
    reconnected = max(logs_back, lock_back, limit_back)
    others = [a for a in refusals.answers if a != 403]
    web_logs = site.log("web1") + site.log("web2")
    figure(
        f"Redis primary SIGKILLed under load: the Sentinels promoted the replica after "
        f"{promoted:.2f}s; log drains through the new primary after {logs_back:.2f}s, the "
        f"scheduler lock on it after {lock_back:.2f}s, rate limits counting on it after "
        f"{limit_back:.2f}s ({next(bursts) - 1} bursts); a block_ip run during the failover "
        f"refused everywhere {block_back:.2f}s after the command ended "
        f"({command['done'] - killed:.2f}s after the kill); a blocked client got "
        f"{len(refusals.answers) - len(others)} refusals and {len(others)} other answers; "
        f"web flushes no replica acknowledged: {web_logs.count('no Redis replica acknowledged')}"
    )
    assert not others, f"a blocked client got in or errors: {others[:5]}"
    assert reconnected <= 10
    assert block_back <= 5
    assert_exact(site, tag, traffic)
