import sys

from django.core.management.base import CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from security import blocklist
from security.management.base import SecurityCommand
from security.models import BlockSource
from security.targets import InvalidInput, parse_duration, parse_targets, read_target_file

CHUNK = 5000


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
            help="allow networks wider than /8 (IPv4) or /32 (IPv6)",
        )

    def handle(self, *args, **options) -> None:
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
        progress = tqdm(
            total=len(targets), unit="target", disable=not sys.stderr.isatty() or len(chunks) < 2
        )
        with transaction.atomic():
            for chunk in chunks:
                blocklist.block(chunk, reason=reason, expires_at=expires_at, source=source)
                progress.update(len(chunk))
        progress.close()
        until = f" until {expires_at:%Y-%m-%d %H:%M UTC}" if expires_at else ""
        self.stdout.write(f"blocked {len(targets)} target{'s' * (len(targets) != 1)}{until}")
