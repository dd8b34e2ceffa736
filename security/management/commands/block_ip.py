from datetime import datetime
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from security.blocking import changes
from security.management.base import SecurityCommand
from security.management.progress import TerminalProgress
from security.models import BlockSource
from security.targets import InvalidInput, parse_duration, parse_targets, read_target_file

CHUNK = 5000
SHOWN_KEPT = 10


def until(expires_at: datetime | None) -> str:
    return f" until {expires_at:%Y-%m-%d %H:%M:%S UTC}" if expires_at else " for good"


class Command(SecurityCommand):
    help = "Block IP addresses or CIDR networks (IPv4/IPv6). Nothing is written if any is invalid."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("targets", nargs="*", metavar="TARGET", help="address or network")
        parser.add_argument("--reason", default="", help="why (shown in the admin)")
        parser.add_argument(
            "--expires", metavar="DURATION", help="e.g. 30m, 12h, 7d; default never"
        )
        parser.add_argument(
            "--from-file", metavar="PATH", help="one target per line, '#' starts a comment"
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="allow networks wider than /8 (IPv4) or /32 (IPv6), or holding all of IPv4",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            huge = options["force"]
            targets = parse_targets(options["targets"], huge)
            if options["from_file"]:
                targets = parse_targets(
                    [*targets, *read_target_file(options["from_file"], huge)], huge
                )
            expires_at = (
                timezone.now() + parse_duration(options["expires"]) if options["expires"] else None
            )
        except InvalidInput as error:
            raise CommandError(str(error)) from error
        if not targets:
            raise CommandError("nothing to block: give TARGETs or --from-file")
        source = BlockSource.IMPORT if options["from_file"] else BlockSource.MANUAL
        reason = options["reason"][:255]
        chunks = [targets[i : i + CHUNK] for i in range(0, len(targets), CHUNK)]
        kept = []
        progress = TerminalProgress(self.stderr, "target", minimum=2 * CHUNK)
        with progress, transaction.atomic():
            for done, chunk in enumerate(chunks, 1):
                rows = changes.block(chunk, reason=reason, expires_at=expires_at, source=source)
                kept += [row for row in rows if row.expires_at != expires_at]
                progress(min(done * CHUNK, len(targets)), len(targets))
        changed = len(targets) - len(kept)
        if changed or not kept:
            self.stdout.write(f"blocked {changed} target{'s' * (changed != 1)}{until(expires_at)}")
        for row in kept[:SHOWN_KEPT]:
            self.stdout.write(
                f"{row.ip_address} keeps its longer block{until(row.expires_at)}"
                + (f" ({row.reason})" if row.reason else "")
            )
        if len(kept) > SHOWN_KEPT:
            self.stdout.write(f"... and {len(kept) - SHOWN_KEPT:,} more kept their longer block")
