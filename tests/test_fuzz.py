"""Property-based tests: no input makes these functions fail in an unplanned way."""

import ipaddress
import string
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from security import tasks
from security.client_ip import resolve_client_ip
from security.models import RequestLog
from security.requestlog import records, store
from security.requestlog.buffer import log_buffer
from security.targets import InvalidInput, parse_duration, parse_target

XFF = "HTTP_X_FORWARDED_FOR"
addresses = st.one_of(st.ip_addresses().map(str), st.text(max_size=60))
header_text = st.one_of(
    st.text(max_size=300),
    st.lists(addresses, max_size=12).map(", ".join),
    st.text(alphabet=string.printable, max_size=5000),
)


@given(peer=addresses, forwarded=header_text, proxies=st.sampled_from([(), ("127.0.0.0/8", "::1")]))
def test_client_ip_never_raises_and_is_a_normal_address(peer, forwarded, proxies):
    ip = resolve_client_ip({"REMOTE_ADDR": peer, XFF: forwarded}, proxies, XFF)
    if ip is not None:
        assert str(ipaddress.ip_address(ip)) == ip


@given(
    peer=st.ip_addresses(v=4).map(str).filter(lambda p: not p.startswith("127.")),
    forwarded=header_text,
)
def test_untrusted_peer_is_always_the_client(peer, forwarded):
    assert resolve_client_ip({"REMOTE_ADDR": peer, XFF: forwarded}, ("127.0.0.0/8",), XFF) == peer


@given(st.text(max_size=200))
def test_targets_parse_to_a_stable_normal_form_or_a_clear_error(text):
    try:
        normal = parse_target(text)
    except InvalidInput as error:
        assert str(error)
        return
    assert parse_target(normal) == normal


@given(
    address=st.ip_addresses().filter(lambda a: a.version == 4 or a.ipv4_mapped is None),
    prefix=st.integers(min_value=0, max_value=128),
)
def test_every_real_network_is_accepted(address, prefix):
    network = ipaddress.ip_network(f"{address}/{min(prefix, address.max_prefixlen)}", strict=False)
    assert ipaddress.ip_network(parse_target(str(network), allow_huge=True)) == network


@given(st.text(max_size=40))
def test_durations_are_positive_or_a_clear_error(text):
    try:
        duration = parse_duration(text)
    except InvalidInput:
        return
    assert timedelta(0) < duration <= timedelta(days=3650)


@given(st.text(max_size=5000))
def test_clean_text_is_bounded_storable_text(text):
    cleaned = records.clean_text(text, 2000)
    assert len(cleaned) <= 2000
    assert "\x00" not in cleaned
    cleaned.encode("utf-8")


@pytest.mark.django_db(transaction=True)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(min_size=0, max_size=3000))
def test_any_path_is_answered_and_stored(raw):
    path = "/" + "".join(f"%{byte:02X}" for byte in raw)
    response = Client(raise_request_exception=False).get(path, REMOTE_ADDR="203.0.113.250")
    assert response.status_code in (200, 301, 302, 400, 404)
    log_buffer.flush()
    tasks.drain_logs()
    stored = RequestLog.objects.filter(ip_address="203.0.113.250")
    assert stored.count() == 1
    stored.delete()


@pytest.mark.django_db(transaction=True)
@settings(max_examples=40, deadline=None)
@given(path=st.text(max_size=3000), agent=st.text(max_size=1000))
def test_any_record_text_is_storable(path, agent):
    record = records.Record(
        uuid.uuid4().hex,
        1.7e9,
        "203.0.113.251",
        "GET",
        records.clean_text(path, records.PATH_LIMIT),
        200,
        user_agent=records.clean_text(agent, 512),
    )
    assert store.store_records([record], use_network=False) == 1
    RequestLog.objects.filter(record_id=uuid.UUID(record.id)).delete()
