"""What the blocking commands tell an operator: kept longer blocks, covering networks, one-line
errors, honest plurals."""

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from security.blocking import changes
from security.models import BlockedIP
from tests.processes import run_manage

pytestmark = pytest.mark.django_db(transaction=True)


def command_error(stderr: str) -> str:
    """The one error line (the system checks' warnings may come before it)."""
    errors = [line for line in stderr.splitlines() if line.startswith("CommandError")]
    assert len(errors) == 1 and stderr.rstrip().endswith(errors[0])
    return errors[0]


def test_a_shorter_block_over_a_longer_one_prints_the_kept_expiry_and_reason(capsys):
    call_command("block_ip", "203.0.113.40", reason="scanner", expires="12h")
    capsys.readouterr()
    call_command("block_ip", "203.0.113.40", reason="again", expires="1h")
    out = capsys.readouterr().out
    row = BlockedIP.objects.get(ip_address="203.0.113.40")
    assert (row.reason, row.expires_at > timezone.now() + timedelta(hours=11)) == ("scanner", True)
    kept = f"203.0.113.40 keeps its longer block until {row.expires_at:%Y-%m-%d %H:%M:%S UTC}"
    assert f"{kept} (scanner)" in out
    assert out == f"{kept} (scanner)\n"  # nothing else: nothing was blocked until 1 h


def test_unblocking_an_address_inside_a_blocked_network_names_the_network(client: Client):
    call_command("block_ip", "198.51.100.0/24", reason="hoster")
    call_command("block_ip", "198.51.100.5", reason="exact")
    with pytest.raises(CommandError, match=r"198\.51\.100\.0/24 \(manual\).*nothing changed"):
        call_command("unblock_ip", "198.51.100.5")
    assert BlockedIP.objects.filter(ip_address="198.51.100.5").exists()
    result = run_manage("unblock_ip", "198.51.100.5")
    assert result.returncode == 1
    assert "198.51.100.0/24" in command_error(result.stderr)
    call_command("unblock_ip", "198.51.100.5", "198.51.100.0/24")
    assert client.get("/", REMOTE_ADDR="198.51.100.5").status_code == 200


def test_unblock_names_a_feeds_network(tmp_path, capsys):
    path = tmp_path / "list.txt"
    path.write_text("45.155.205.0/24\n")
    call_command("import_blocklist", "hosters", file=str(path))
    with pytest.raises(CommandError, match=r"45\.155\.205\.0/24 \(hosters\)"):
        call_command("unblock_ip", "45.155.205.10")
    call_command("block_ip", "203.0.113.41")
    capsys.readouterr()
    call_command("unblock_ip", "203.0.113.41")
    assert capsys.readouterr().out.strip() == "unblocked 1 block of 1 target"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("export_blocklist", "--format", "nginx", "--output", "/nonexistent/dir/x.conf"),
         "cannot write /nonexistent/dir/x.conf"),
        (("runscheduler", "--bogus"), "unrecognized arguments: --bogus"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_1(args, says):
    result = run_manage(*args)
    assert result.returncode == 1
    assert says in command_error(result.stderr) and "Traceback" not in result.stderr


def test_detect_anomalies_says_when_it_found_nothing(capsys):
    call_command("detect_anomalies")
    captured = capsys.readouterr()
    assert (captured.out, captured.err.strip()) == ("", "nothing flagged in the last 1 hour")
    assert "automatically" in run_manage("detect_anomalies", "--help").stdout


def test_export_reports_one_network_in_the_singular(tmp_path, capsys):
    changes.block(["203.0.113.42"])
    call_command("export_blocklist", "--format", "nginx", "--output", str(tmp_path / "b.conf"))
    assert capsys.readouterr().err.strip() == f"wrote 1 network to {tmp_path / 'b.conf'}"


def test_list_blocks_by_source_and_activity_as_json(tmp_path, capsys, settings):
    settings.SECURITY_BLOCK_COUNTRIES = ["xx"]
    call_command("block_ip", "203.0.113.50", reason="by hand")
    changes.block(["203.0.113.51"], expires_at=timezone.now() - timedelta(minutes=1))
    path = tmp_path / "list.txt"
    path.write_text("203.0.113.50\n")
    call_command("import_blocklist", "local", file=str(path))
    capsys.readouterr()
    call_command("list_blocks", "--active", "--json")
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["target"], r["source"], r.get("feed")) for r in rows] == [
        ("country XX", "country", None),
        ("203.0.113.50", "manual", None),
        ("203.0.113.50", "feed", "local"),
    ]
    call_command("list_blocks", "--source", "feed")
    captured = capsys.readouterr()
    assert captured.out.startswith("203.0.113.50\tfeed local\tfor good")
    assert captured.err.strip() == "1 block"
    call_command("list_blocks", "--source", "country", "--json")
    assert json.loads(capsys.readouterr().out)["target"] == "country XX"
    result = run_manage("list_blocks", "--source", "countries")
    assert result.returncode == 1 and "invalid choice" in command_error(result.stderr)
