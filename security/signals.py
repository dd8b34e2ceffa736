"""Signals a site can connect to, each sent once the change is committed.

ip_flagged
    sender: SuspiciousIP. One signal per new finding, by streaming detection or the hourly scan.
    Arguments: ``suspicious`` (the SuspiciousIP row), ``ip_address``, ``reason`` (the
    rule's reason, builtin_rules.py), ``signature`` (the signature entry that matched, "" for
    counting rules), ``detected_by`` ("stream" or "scan").
ip_blocked
    sender: BlockedIP. One signal per block call (a feed import blocks thousands at once).
    Arguments: ``targets`` (list of addresses and networks), ``reason``, ``expires_at``
    (None for ever), ``source`` (a BlockSource value: manual, automatic, feed, import).
ip_unblocked
    sender: BlockedIP. Arguments: ``targets`` (what was asked to be unblocked), ``removed``
    (how many blocks were deleted).

Receivers run in the process that made the change (a worker for detection, a web process for
the dashboard and the admin, the command for block_ip): keep them quick, and send slow work to
a task queue. A receiver's exception is logged, never raised into the change.
"""

import logging
from typing import Any

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

ip_flagged = Signal()
ip_blocked = Signal()
ip_unblocked = Signal()


def send_on_commit(signal: Signal, sender: type, **arguments: Any) -> None:
    def send() -> None:
        for receiver, result in signal.send_robust(sender, **arguments):
            if isinstance(result, Exception):
                logger.error("receiver %r of a security signal failed: %s", receiver, result)

    transaction.on_commit(send)
