from typing import Any

from django.core.management.base import CommandError, CommandParser

from security import privacy
from security.management.base import SecurityCommand
from security.management.inputs import targets_or_error
from security.management.progress import TerminalProgress


class Command(SecurityCommand):
    help = (
        "Erase an address or network from request logs, suspicious IPs, rollups, blocks, the "
        "allowlist and Redis; print what was removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", metavar="TARGET")

    def handle(self, *args: Any, **options: Any) -> None:
        (target,) = targets_or_error([options["target"]])
        with TerminalProgress(self.stderr, "address", minimum=2 * privacy.CHUNK) as progress:
            result = privacy.forget(target, progress)
        count = len(result.addresses)
        self.stdout.write(
            f"forgot {target} ({count} address{'es' * (count != 1)}): {result.summary()}"
        )
        if result.redis_error:
            raise CommandError(
                f"Redis unreachable ({result.redis_error}): records not stored yet, dead "
                f"letters and queued alerts were not searched; run forget_ip {target} again "
                "once Redis is back"
            )
