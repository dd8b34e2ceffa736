from django.core.management.base import CommandParser

from security import blocklist
from security.management.base import SecurityCommand
from security.management.inputs import targets_or_error


class Command(SecurityCommand):
    help = "Allowlist IP addresses or networks: they are never blocked. --remove takes them off."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("targets", nargs="+", metavar="TARGET")
        parser.add_argument("--reason", default="")
        parser.add_argument("--remove", action="store_true", help="remove from the allowlist")

    def handle(self, *args, **options) -> None:
        targets = targets_or_error(options["targets"])
        if options["remove"]:
            removed = blocklist.disallow(targets)
            self.stdout.write(f"removed {removed} of {len(targets)} target(s) from the allowlist")
        else:
            blocklist.allow(targets, reason=options["reason"][:255])
            self.stdout.write(f"allowlisted {len(targets)} target(s)")
