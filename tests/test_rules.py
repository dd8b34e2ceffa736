"""A detection rule is one class: listed in a setting, it runs in the drain and in the hourly
scan, the console knows its name, and the README's table of rules is these classes."""

import re
from pathlib import Path

import pytest
from django.test import Client

from security.detection import registry, scan
from security.detection.rule import CountingRule, Rule, ScanTerms, SignatureRule
from security.models import SuspiciousIP
from security.rule_classes import DEFAULT_RULE_CLASSES

from .test_detection import store

pytestmark = pytest.mark.django_db(transaction=True)

WITH_WRONG_METHOD = [*DEFAULT_RULE_CLASSES, "tests.custom_rules.WrongMethod"]
BOT = "198.51.100.140"


def post_to_read_only_pages(client: Client, times: int = 3) -> None:
    for _ in range(times):
        assert client.post("/", REMOTE_ADDR=BOT).status_code == 405


def test_a_rule_added_in_one_place_runs_in_the_drain_and_the_scan(client, settings):
    settings.SECURITY_DETECT_RULE_CLASSES = WITH_WRONG_METHOD
    post_to_read_only_pages(client)
    store()
    flagged = SuspiciousIP.objects.get(ip_address=BOT)
    assert (flagged.reason, flagged.detected_by) == ("wrong_method", "stream")
    assert flagged.signature == "3 requests answered 405 in 600 s"
    assert flagged.get_reason_display() == "Writes to read-only pages"

    SuspiciousIP.objects.all().delete()
    found = scan.scan(hours=1)
    assert [(f.ip, f.reason, f.requests) for f in found] == [(BOT, "wrong_method", 3)]
    assert SuspiciousIP.objects.get(ip_address=BOT).detected_by == "scan"


def test_an_added_rule_is_in_the_console(client, staff_client, settings):
    settings.SECURITY_DETECT_RULE_CLASSES = WITH_WRONG_METHOD
    post_to_read_only_pages(client)
    store()
    page = staff_client.get("/security/events/?rule=wrong_method")
    assert page.status_code == 200
    assert BOT in page.content.decode()
    assert "Writes to read-only pages" in page.content.decode()
    scan.scan(hours=1)  # the scan's evidence: every counting rule's count of the client
    address = staff_client.get(f"/security/ip/{BOT}/").content.decode()
    assert "requests answered 405" in address
    assert "distinct paths answered 404" not in address  # a zero says nothing


def test_an_unlisted_rule_does_not_run_and_a_listed_one_is_tuned_by_settings(client, settings):
    post_to_read_only_pages(client)
    store()
    assert not SuspiciousIP.objects.exists()
    settings.SECURITY_DETECT_RULE_CLASSES = WITH_WRONG_METHOD
    settings.SECURITY_DETECT_RULES = {"wrong_method": {"threshold": 10}}
    assert scan.scan(hours=1) == []
    bad = staff_client_get_unknown_rule(client, settings)
    assert bad.status_code == 400 and b"wrong_method" in bad.content


def staff_client_get_unknown_rule(client: Client, settings):
    from .conftest import EVERY_OPERATOR_PERMISSION, operator

    client.force_login(operator("ops2", *EVERY_OPERATOR_PERMISSION))
    return client.get("/security/events/?rule=no_such_rule")


def render_table() -> str:
    """The README's table of rules, from the rule classes."""
    lines = [
        "| rule | what it matches | window | threshold | source |",
        "|---|---|---|---|---|",
    ]
    for rule in registry.all_rules().values():
        window, threshold = duration(rule.window), str(rule.threshold)
        if isinstance(rule, SignatureRule):
            threshold, source = f"{rule.threshold} request", rule.sources
        else:
            assert isinstance(rule, CountingRule)
            source = "counting"
            if rule.window != 3600:
                window += " (scan: 1 h)"
            if rule.limit() != rule.threshold:
                threshold += f" (scan: {rule.limit()})"
        lines.append(f"| `{rule.reason}` | {rule.matches} | {window} | {threshold} | {source} |")
    return "\n".join(lines)


def duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 and seconds > 60 else f"{seconds} s"


def test_the_readme_table_of_rules_is_the_rule_classes():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert render_table() in readme, "README's table of rules differs: paste render_table()"


def test_every_rule_class_is_complete():
    terms = ScanTerms.current()
    for cls in registry.rule_classes():
        rule = cls()
        assert isinstance(rule, Rule) and re.fullmatch(r"[a-z_]{1,16}", rule.reason)
        assert rule.label and rule.matches
        if isinstance(rule, CountingRule):
            counts = rule.counts(terms)
            assert next(iter(counts)) == rule.count_name, cls
            assert rule.describe


def test_malformed_rule_settings_fail_no_batch_and_no_request(client, settings):
    """E023 names them at start; at run time the rule keeps its own values."""
    settings.SECURITY_DETECT_RULES = {"probe": False, "not_found": {"threshold": "30"}}
    settings.SECURITY_DETECT_VOLUME_THRESHOLD = "lots"
    settings.SECURITY_DETECT_INLINE = True
    sqli = "/?q=1%27%20union%20select%20password%20from%20auth_user--"
    assert client.get(sqli, REMOTE_ADDR="198.51.100.141").status_code == 403
    for n in range(16):
        client.get(f"/missing-{n}/", REMOTE_ADDR=BOT)
    store()
    assert SuspiciousIP.objects.filter(ip_address=BOT, reason="not_found").exists()
    assert registry.all_rules()["not_found"].threshold == 15
