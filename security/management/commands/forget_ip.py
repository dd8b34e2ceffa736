from django.core.management.base import CommandParser

from security import privacy
from security.management.base import SecurityCommand
from security.management.inputs import targets_or_error


class Command(SecurityCommand):
    help = (
        "Erase an address or network from request logs, suspicious IPs, rollups, blocks, the "
        "allowlist and Redis; print what was removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", metavar="TARGET")

    def handle(self, *args, **options) -> None:
        (target,) = targets_or_error([options["target"]])
        result = privacy.forget(target)
        self.stdout.write(
            f"forgot {target} ({len(result.addresses)} address(es)): {result.summary()}"
        )
