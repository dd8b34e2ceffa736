"""Long commands show a progress bar on a terminal (a real pseudo-terminal here) and nothing
but their result anywhere else; forgetting a network finds its Redis keys in one pass."""

import io
import os
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from security import tasks
from security.geo.cache import cache_store
from security.geo.result import GeoResult
from security.models import BlockedIP, RequestLog
from security.requestlog.buffer import log_buffer

pytestmark = pytest.mark.django_db(transaction=True)


class Terminal:
    """A pseudo-terminal: what a command writes to `screen` is read back from the other end."""

    def __init__(self) -> None:
        self.reader, writer = os.openpty()
        self.screen = os.fdopen(writer, "w")
        self.chunks: list[bytes] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.reader, 65536)
            except OSError:  # the writing end closed
                return
            if not chunk:
                return
            self.chunks.append(chunk)

    def text(self) -> str:
        self.screen.close()
        self.thread.join(5)
        os.close(self.reader)
        return b"".join(self.chunks).decode(errors="replace")


def feed_file(tmp_path: Path, count: int) -> str:
    path = tmp_path / "feed.txt"
    path.write_text("".join(f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}\n"
                            for n in range(count)))  # fmt: skip
    return str(path)


def test_import_blocklist_shows_its_progress_on_a_terminal(tmp_path):
    terminal = Terminal()
    out = io.StringIO()
    call_command("import_blocklist", "big", file=feed_file(tmp_path, 12_000), stdout=out,
                 stderr=terminal.screen)  # fmt: skip
    screen = terminal.text()
    assert "12000/12000" in screen  # entries written
    assert "entry/s" in screen
    assert "added 12,000" in out.getvalue()
    assert BlockedIP.objects.filter(feed="big").count() == 12_000


def test_no_bar_where_stderr_is_not_a_terminal(tmp_path):
    err, out = io.StringIO(), io.StringIO()
    call_command("import_blocklist", "big", file=feed_file(tmp_path, 12_000), stdout=out,
                 stderr=err)  # fmt: skip
    assert err.getvalue() == ""
    assert out.getvalue().startswith("feed big: 12,000 entries; added 12,000")


def test_a_small_import_shows_no_bar(tmp_path):
    terminal = Terminal()
    call_command("import_blocklist", "small", file=feed_file(tmp_path, 50), stdout=io.StringIO(),
                 stderr=terminal.screen)  # fmt: skip
    screen = terminal.text()
    assert "entry" not in screen and "50/50" not in screen


def requests_from(client: Client, addresses: list[str], path: str = "/.env") -> None:
    for ip in addresses:
        client.get(path, REMOTE_ADDR=ip)
    log_buffer.flush()
    tasks.drain_logs()


def test_forget_a_network_erases_every_address_redis_names_and_shows_progress(
    client: Client, redis_client
):
    inside = [f"198.51.100.{n}" for n in range(1, 41)]
    outside = "192.0.2.200"
    requests_from(client, [*inside, outside])
    cache_store({ip: GeoResult(ip, "NL", "Netherlands") for ip in [*inside, outside]},
                set(inside) | {outside})  # fmt: skip

    def named(ip: str) -> list:
        return [key for key in redis_client.scan_iter("*") if key.decode().endswith(f":{ip}")
                or f":{ip}:" in key.decode() or f":{ip}|" in key.decode()]  # fmt: skip

    assert named(inside[0]) and named(outside)  # a detection window and a cached answer each
    terminal = Terminal()
    out = io.StringIO()
    call_command("forget_ip", "198.51.100.0/24", stdout=out, stderr=terminal.screen)
    terminal.text()
    assert "(40 addresses)" in out.getvalue()
    assert not any(named(ip) for ip in inside)
    assert len(named(outside)) >= 2
    assert RequestLog.objects.filter(ip_address=outside).count() == 1


def test_forget_a_network_of_thousands_shows_a_bar(client: Client):
    RequestLog.objects.bulk_create(
        RequestLog(
            record_id=f"00000000-0000-4000-8000-{n:012d}",
            timestamp="2026-12-01T00:00Z",
            ip_address=f"10.9.{n // 256}.{n % 256}",
            method="GET",
            path="/",
            status_code=200,
        )  # fmt: skip
        for n in range(2_500)
    )
    terminal = Terminal()
    out = io.StringIO()
    call_command("forget_ip", "10.9.0.0/16", stdout=out, stderr=terminal.screen)
    screen = terminal.text()
    assert "2500/2500" in screen and "address/s" in screen
    assert "(2500 addresses)" in out.getvalue()
    assert not RequestLog.objects.exists()


def test_detect_anomalies_over_a_day_shows_its_passes(client: Client):
    requests_from(client, ["203.0.113.66"] * 3)
    terminal = Terminal()
    out = io.StringIO()
    call_command("detect_anomalies", hours="24", stdout=out, stderr=terminal.screen)
    screen = terminal.text()
    assert "4/4" in screen and "pass/s" in screen
    assert '"ip": "203.0.113.66"' in out.getvalue()


def test_block_ip_of_many_targets_shows_a_bar(tmp_path):
    terminal = Terminal()
    out = io.StringIO()
    call_command("block_ip", from_file=feed_file(tmp_path, 12_000), stdout=out,
                 stderr=terminal.screen)  # fmt: skip
    screen = terminal.text()
    assert "12000/12000" in screen and "target/s" in screen
    assert out.getvalue().startswith("blocked 12000 targets")
    assert BlockedIP.objects.count() == 12_000
