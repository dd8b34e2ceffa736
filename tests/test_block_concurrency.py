"""A new block never shortens an existing one, also while another block is still committing."""

import threading
import time
from datetime import timedelta

import pytest
from django import db
from django.db import transaction
from django.test import Client
from django.utils import timezone

from security.blocking import changes
from security.models import BlockedIP

pytestmark = pytest.mark.django_db(transaction=True)

BULK = [f"198.51.100.{n}" for n in range(1, 200)]


class OpenBulkBlock(threading.Thread):
    """A permanent bulk block (as `block_ip --from-file` makes) whose transaction stays open
    until told to commit."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.written = threading.Event()
        self.commit = threading.Event()

    def run(self) -> None:
        try:
            with transaction.atomic():
                changes.block(BULK, reason="bulk: known bad")
                self.written.set()
                self.commit.wait(30)
        finally:
            db.connection.close()


class ShortBlock(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.started = threading.Event()

    def run(self) -> None:
        try:
            self.started.set()
            changes.block(
                ["198.51.100.7"], reason="one hour", expires_at=timezone.now() + timedelta(hours=1)
            )
        finally:
            db.connection.close()


def test_a_short_block_made_while_a_permanent_bulk_block_commits_keeps_the_permanent_one(
    client: Client,
):
    bulk = OpenBulkBlock()
    bulk.start()
    assert bulk.written.wait(30)
    short = ShortBlock()
    short.start()
    assert short.started.wait(10)
    # Give the short block time to reach the database while the bulk one is still open (on
    # PostgreSQL without a lock its upsert would wait there, then overwrite the bulk row).
    time.sleep(1)
    bulk.commit.set()
    bulk.join(30)
    short.join(30)
    row = BlockedIP.objects.get(ip_address="198.51.100.7")
    assert (row.expires_at, row.reason) == (None, "bulk: known bad")
    assert client.get("/", REMOTE_ADDR="198.51.100.7").status_code == 403
