from typing import Any

from django.core.management.base import CommandParser

from security.blocking import changes
from security.management.base import SecurityCommand
from security.management.inputs import targets_or_error


class Command(SecurityCommand):
    help = "Allowlist IP addresses or networks: they are never blocked. --remove takes them off."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("targets", nargs="+", metavar="TARGET")
        parser.add_argument("--reason", default="")
        parser.add_argument("--remove", action="store_true", help="remove from the allowlist")
        parser.add_argument(
            "--force",
            action="store_true",
            help="allow networks wider than /8 (IPv4) or /32 (IPv6), or holding all of IPv4",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # The allowlist wins over every block: a wide entry lets every blocked client in.
        targets = targets_or_error(options["targets"], options["remove"] or options["force"])
        if options["remove"]:
            removed = changes.disallow(targets)
            plural = "s" * (len(targets) != 1)
            self.stdout.write(
                f"removed {removed} of {len(targets)} target{plural} from the allowlist"
            )
        else:
            changes.allow(targets, reason=options["reason"][:255])
            self.stdout.write(f"allowlisted {len(targets)} target{'s' * (len(targets) != 1)}")
