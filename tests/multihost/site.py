"""A site spread over hosts: Redis (a primary, a replica and three Sentinels) and PostgreSQL on
hosts of their own, two web hosts (gunicorn, two workers each), two worker hosts (Dramatiq) and a
scheduler pair, every one a network namespace (network.py). Every process reaches Redis through
the Sentinels (a redis+sentinel:// REDIS_URL) and runs with the app's default settings. The test
itself is the proxy in front of the web hosts. Its stores listen only on the namespaces'
addresses (10.77.x), never on the machine's own 127.0.0.1."""

import glob
import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import redis

from tests.processes import BIN, PYTHON, ROOT, WORKER_COMMAND, process_env

from .network import Host, Network

APP_NETWORKS = ("front", "redis", "pg")
HOSTS = [
    Host("redis", 2, ("redis",)),
    Host("redis2", 3, ("redis",)),
    Host("sen1", 4, ("redis",)),
    Host("sen2", 5, ("redis",)),
    Host("sen3", 6, ("redis",)),
    Host("pg", 2, ("pg",)),
    Host("web1", 11, APP_NETWORKS),
    Host("web2", 12, APP_NETWORKS),
    Host("wk1", 21, APP_NETWORKS),
    Host("wk2", 22, APP_NETWORKS),
    Host("sch1", 31, APP_NETWORKS),
    Host("sch2", 32, APP_NETWORKS),
]
PROXY = "10.77.3.1"  # the test's own address on the front network
REDIS_SERVICE = "ipt"
REDIS_SERVERS = {"redis": "10.77.1.2", "redis2": "10.77.1.3"}  # primary, replica at the start
SENTINELS = {"sen1": "10.77.1.4", "sen2": "10.77.1.5", "sen3": "10.77.1.6"}
REDIS_URL = (
    "redis+sentinel://"
    + ",".join(f"{address}:26379" for address in SENTINELS.values())
    + f"/{REDIS_SERVICE}/0"
)
# The Sentinels take a primary for down after this long, then two of three agree on a failover.
SENTINEL_DOWN_AFTER_MS = 2000
DATABASE_URL = "postgres://postgres@10.77.2.2:5432/ipt"
LOG_DIR = ROOT / ".run" / "multihost"


def sentinel_binary() -> str:
    found = shutil.which("redis-sentinel")
    if found is None:
        raise RuntimeError(
            "no redis-sentinel: the multi-host test needs Debian's redis-sentinel package "
            "(scripts/test.sh installs it as root)"
        )
    return found


def postgres_binary() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        raise RuntimeError("no PostgreSQL server binary under /usr/lib/postgresql")
    return found[-1]


class Site:
    def __init__(self) -> None:
        self.network = Network(HOSTS)
        self.processes: dict[str, subprocess.Popen] = {}
        self.pg_dir = ""
        self.redis_dir = ""
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        for old_log in LOG_DIR.glob("*.log"):  # the tests read these: start from empty ones
            old_log.unlink()

    def host(self, name: str) -> Host:
        return self.network.hosts[name]

    def env(self) -> dict[str, str]:
        return process_env(
            DATABASE_URL=DATABASE_URL,
            REDIS_URL=REDIS_URL,
            DJANGO_ALLOWED_HOSTS="*",
            SECURITY_TRUSTED_PROXIES=PROXY,
            SECURITY_METRICS_NETWORKS=f"{PROXY}/32",
        )

    # --- processes ------------------------------------------------------------------------
    def start(self, name: str, host: str, *argv: str, user: str | None = None) -> None:
        command = self.host(host).command(*(["runuser", "-u", user, "--"] if user else []), *argv)
        log = (LOG_DIR / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def running(self, name: str) -> bool:
        process = self.processes.get(name)
        return process is not None and process.poll() is None

    def signal(self, name: str, signum: int) -> None:
        process = self.processes[name]
        if process.poll() is None:
            os.killpg(process.pid, signum)

    def stop(self, name: str, timeout: float = 15) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)

    def log(self, name: str) -> str:
        return (LOG_DIR / f"{name}.log").read_text(errors="replace")

    def manage(self, host: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.host(host).command(PYTHON, "manage.py", *args),
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )

    # --- the stores -----------------------------------------------------------------------
    def start_redis(self, host: str) -> None:
        command = ["redis-server", "--bind", REDIS_SERVERS[host], "--port", "6379", "--save", ""]
        command += ["--appendonly", "no", "--protected-mode", "no", "--dir", self.redis_dir]
        if host != "redis":
            command += ["--replicaof", REDIS_SERVERS["redis"], "6379"]
        self.start(host, host, *command)

    def start_sentinel(self, host: str) -> None:
        config = Path(self.redis_dir) / f"{host}.conf"  # Sentinel rewrites its own file
        config.write_text(
            f"bind {SENTINELS[host]}\nport 26379\nprotected-mode no\ndir {self.redis_dir}\n"
            f"sentinel monitor {REDIS_SERVICE} {REDIS_SERVERS['redis']} 6379 2\n"
            f"sentinel down-after-milliseconds {REDIS_SERVICE} {SENTINEL_DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {REDIS_SERVICE} 10000\n"
        )
        self.start(host, host, sentinel_binary(), str(config))

    def sentinel(self, host: str = "sen1") -> redis.Redis:
        return redis.Redis(host=SENTINELS[host], port=26379, socket_timeout=2)

    def primary(self) -> str:
        """The address the Sentinels name as the primary."""
        return self.sentinel().sentinel_get_master_addr_by_name(REDIS_SERVICE)[0].decode()

    def start_stores(self) -> None:
        self.redis_dir = tempfile.mkdtemp(prefix="ipt-redis-")
        for host in REDIS_SERVERS:
            self.start_redis(host)
        for host in SENTINELS:
            self.start_sentinel(host)

        def sentinels_agree() -> bool:
            try:
                states = [self.sentinel(h).sentinel_master(REDIS_SERVICE) for h in SENTINELS]
            except redis.RedisError:
                return False
            return all(s["num-other-sentinels"] == 2 and s["num-slaves"] == 1 for s in states)

        wait_until(sentinels_agree, 30, "the Sentinels did not find each other and the replica")
        self.pg_dir = tempfile.mkdtemp(prefix="ipt-pg-")
        shutil.chown(self.pg_dir, "postgres", "postgres")
        initdb = str(Path(postgres_binary()).parent / "initdb")
        subprocess.run(
            ["runuser", "-u", "postgres", "--", initdb, "-D", self.pg_dir, "-A", "trust"]
            + ["-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
        )
        with open(Path(self.pg_dir) / "pg_hba.conf", "a") as hba:
            hba.write("host all all 10.77.0.0/16 trust\n")
        self.start(
            "pg",
            "pg",
            postgres_binary(),
            "-D",
            self.pg_dir,
            "-c",
            "listen_addresses=10.77.2.2",
            "-c",
            f"unix_socket_directories={self.pg_dir}",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=300",
            user="postgres",
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(
                    "postgresql://postgres@10.77.2.2:5432/postgres", connect_timeout=1
                ) as conn:
                    conn.autocommit = True
                    conn.execute("CREATE DATABASE ipt")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        migrated = subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
        )
        assert migrated.returncode == 0, migrated.stderr

    # --- application hosts ----------------------------------------------------------------
    def start_web(self, host: str) -> None:
        address = self.host(host).address("front")
        self.start(
            host,
            host,
            str(BIN / "gunicorn"),
            "project.wsgi",
            "--bind",
            f"{address}:8000",
            "--workers",
            "2",
            "--threads",
            "4",
            "--graceful-timeout",
            "5",
        )

    def start_worker(self, host: str) -> None:
        self.start(host, host, *WORKER_COMMAND)

    def start_scheduler(self, host: str) -> None:
        self.start(host, host, PYTHON, "manage.py", "runscheduler")

    def wait_for_web(self, host: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if request(self.host(host).address("front"), "/", "192.0.2.1") == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"{host} did not answer within {timeout}s:\n{self.log(host)[-2000:]}")

    def up(self) -> None:
        self.network.up()
        self.start_stores()
        for host in ("web1", "web2"):
            self.start_web(host)
        for host in ("wk1", "wk2"):
            self.start_worker(host)
        for host in ("web1", "web2"):
            self.wait_for_web(host)

    def down(self) -> None:
        for name in list(self.processes):
            process = self.processes.pop(name)
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGCONT)  # a test may have left one stopped
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        self.network.down()
        for directory in (self.pg_dir, self.redis_dir):
            if directory:
                shutil.rmtree(directory, ignore_errors=True)

    # --- what the stores say --------------------------------------------------------------
    def sql(self, query: str, *params) -> list[tuple]:
        with psycopg.connect(
            "postgresql://postgres@10.77.2.2:5432/ipt", connect_timeout=3, autocommit=True
        ) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def redis(self, address: str | None = None) -> redis.Redis:
        """The current primary, or the Redis server at address."""
        return redis.Redis(host=address or self.primary(), port=6379, socket_timeout=3)


def wait_until(condition, timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{failure} within {timeout}s")
        time.sleep(0.2)


def request(address: str, path: str, client: str, method: str = "GET", connection=None) -> int:
    conn = connection or http.client.HTTPConnection(address, 8000, timeout=15)
    try:
        conn.request(method, path, headers={"Host": "localhost", "X-Forwarded-For": client})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        if connection is None:
            conn.close()
