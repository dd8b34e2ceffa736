"""The queries other modules share, on the models' managers."""

from datetime import timedelta

import pytest
from django.utils import timezone

from security.models import AllowedIP, BlockedIP

pytestmark = pytest.mark.django_db


def test_active_blocks_leave_out_expired_ones_and_know_the_next_expiry():
    now = timezone.now()
    BlockedIP.objects.create(ip_address="192.0.2.1")
    BlockedIP.objects.create(ip_address="192.0.2.2", expires_at=now + timedelta(hours=2))
    BlockedIP.objects.create(ip_address="192.0.2.3", expires_at=now + timedelta(hours=1))
    BlockedIP.objects.create(ip_address="192.0.2.4", expires_at=now - timedelta(seconds=1))
    active = set(BlockedIP.objects.active().values_list("ip_address", flat=True))
    assert active == {"192.0.2.1", "192.0.2.2", "192.0.2.3"}
    assert BlockedIP.objects.next_expiry() == now + timedelta(hours=1)


def test_network_sets_match_addresses_inside_the_stored_networks():
    BlockedIP.objects.create(ip_address="198.51.100.0/24")
    BlockedIP.objects.create(ip_address="2001:db8::/32", expires_at=timezone.now())
    AllowedIP.objects.create(ip_address="198.51.100.7")
    blocked = BlockedIP.objects.active().networks()
    assert "198.51.100.200" in blocked
    assert "2001:db8::1" not in blocked  # expired
    assert "2001:db8::1" in BlockedIP.objects.networks()
    assert "198.51.100.7" in AllowedIP.objects.networks()
    assert "198.51.100.8" not in AllowedIP.objects.networks()
