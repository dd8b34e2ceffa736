"""export_blocklist: merged networks, the allowlist cut out, each format parsed back."""

import csv
import io
import ipaddress
import json
import os
import shutil
import subprocess
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from security.blocking import changes, export
from tests.conftest import wait_for
from tests.processes import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def blocks() -> None:
    call_command("block_ip", "203.0.113.0/25", "203.0.113.128/25", "198.51.100.7", "2001:db8::/48")
    changes.block(["192.0.2.1"], expires_at=timezone.now() - timedelta(minutes=1))  # expired
    call_command("allow_ip", "198.51.100.7", "2001:db8:0:5::/64")


def exported(fmt: str, capsys) -> str:
    call_command("export_blocklist", "--format", fmt)
    return capsys.readouterr().out


def covered(networks: list[str]) -> set:
    return {ipaddress.ip_network(n) for n in networks}


def test_networks_are_merged_and_the_allowlist_is_cut_out(blocks):
    networks = [str(n) for n in export.active_networks()]
    assert "203.0.113.0/24" in networks  # two halves merged
    assert not any(n.startswith(("198.51.100.7", "192.0.2.")) for n in networks)
    v6 = [ipaddress.ip_network(n) for n in networks if ":" in n]
    allowed = ipaddress.ip_network("2001:db8:0:5::/64")
    assert not any(n.overlaps(allowed) for n in v6)
    assert sum(n.num_addresses for n in v6) == 2**80 - 2**64


def test_nginx_format(blocks, capsys):
    text = exported("nginx", capsys)
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert all(line.startswith("deny ") and line.endswith(";") for line in lines)
    assert "deny 203.0.113.0/24;" in lines


NGINX = os.environ.get("NGINX_BIN") or shutil.which("nginx")
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


# scripts/test.sh unpacks Debian's nginx-light; only outside CI may a machine lack it.
@pytest.mark.skipif(
    not NGINX and os.environ.get("CI") != "true", reason="no nginx binary on this machine"
)
def test_nginx_accepts_the_file(blocks, tmp_path, capsys):
    (tmp_path / "blocklist.conf").write_text(exported("nginx", capsys))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events {}\nhttp {\n access_log off;\n"
        + "".join(f" {kind}_temp_path {tmp_path}/{kind};\n" for kind in TEMP_PATHS)
        + f" server {{ listen 127.0.0.1:{free_port()}; include {tmp_path}/blocklist.conf; }}\n}}\n"
    )
    result = subprocess.run(
        [NGINX, "-t", "-e", "stderr", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_ipset_format_is_restore_input(blocks, capsys):
    lines = exported("ipset", capsys).splitlines()
    assert lines[0].startswith("create security-block-v4 hash:net family inet")
    adds = [line.split() for line in lines if line.startswith("add ")]
    assert all(len(words) == 4 and words[3] == "-exist" for words in adds)
    v4 = [words[2] for words in adds if words[1] == "security-block-v4"]
    assert v4 == ["203.0.113.0/24"]
    assert any(words[1] == "security-block-v6" for words in adds)


def test_csv_and_json_parse_back_to_the_same_networks(blocks, capsys):
    rows = list(csv.DictReader(io.StringIO(exported("csv", capsys))))
    document = json.loads(exported("json", capsys))
    assert covered([r["network"] for r in rows]) == covered(document["networks"])
    assert document["count"] == len(rows)
    first = rows[0]
    network = ipaddress.ip_network(first["network"])
    assert (first["first_address"], int(first["addresses"])) == (
        str(network.network_address),
        network.num_addresses,
    )


def test_output_file_and_the_change_hook(blocks, tmp_path, settings):
    target = tmp_path / "blocklist.conf"
    marker = tmp_path / "reloaded"
    settings.SECURITY_EXPORT = {
        "format": "nginx",
        "path": str(target),
        "command": ["touch", str(marker)],
    }
    assert export.export_configured()
    assert "deny 203.0.113.0/24;" in target.read_text()
    assert marker.exists()
    call_command("export_blocklist", "--format", "json", "--output", str(tmp_path / "b.json"))
    assert json.loads((tmp_path / "b.json").read_text())["count"] >= 1


def test_a_change_queues_one_export_when_configured(blocks, settings, redis_client):
    import dramatiq

    settings.SECURITY_EXPORT = {"format": "nginx", "path": "/tmp/unused.conf"}

    def queued_exports() -> int:
        # Delayed by the debounce: dramatiq keeps it in the queue's delay queue until then.
        delayed = dramatiq.get_broker().queues.get("default.DQ")
        return 0 if delayed is None else delayed.qsize()

    before = queued_exports()
    call_command("block_ip", "203.0.113.250")
    call_command("block_ip", "203.0.113.251")  # within the debounce: no second export
    assert queued_exports() - before == 1


def test_an_expired_block_leaves_the_edge_file_without_another_change(tmp_path, settings):
    import dramatiq

    from security import tasks  # noqa: F401  (the worker's actors)

    target = tmp_path / "blocklist.conf"
    settings.SECURITY_EXPORT = {"format": "nginx", "path": str(target)}
    broker = dramatiq.get_broker()
    worker = dramatiq.Worker(broker, worker_timeout=100)
    worker.start()
    try:
        # Longer than the export's debounce, so the first export still holds it.
        call_command("block_ip", "203.0.113.60", expires="8s")
        wait_for(lambda: target.exists() and "deny 203.0.113.60/32;" in target.read_text(), 15)
        wait_for(lambda: "deny 203.0.113.60/32;" not in target.read_text(), 15)
    finally:
        worker.stop()
