from typing import Any

from django.core.management.base import CommandError, CommandParser

from security.blocking import changes
from security.management.base import SecurityCommand
from security.management.inputs import targets_or_error
from security.models import BlockedIP


def still_blocking(target: str, removed: set[str]) -> list[str]:
    """The active blocks of other targets that would still cover `target`."""
    # `removed` is left out here, not in SQL: an IN list of every target in each target's
    # query made unblocking 5,000 targets quadratic (minutes).
    rows = BlockedIP.objects.active().covering(target).order_by("ip_address")
    return [
        f"{row.ip_address} ({row.feed or row.source})"
        for row in rows
        if row.ip_address not in removed
    ]


class Command(SecurityCommand):
    help = (
        "Remove IP addresses or networks from the blocklist (every source's row of each). "
        "Refused, changing nothing, if a wider blocked network would still cover one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("targets", nargs="+", metavar="TARGET")

    def handle(self, *args: Any, **options: Any) -> None:
        targets = targets_or_error(options["targets"])
        for target in targets:
            covering = still_blocking(target, set(targets))
            if covering:
                raise CommandError(
                    f"{target} would stay blocked by {', '.join(covering[:5])}: unblock that "
                    f"network too, or allow_ip {target}; nothing changed"
                )
        removed = changes.unblock(targets)
        plural = "s" * (len(targets) != 1)
        self.stdout.write(
            f"unblocked {removed} block{'s' * (removed != 1)} of {len(targets)} target{plural}"
        )
