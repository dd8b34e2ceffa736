from django.core.management.base import CommandParser

from security import blocklist
from security.management.base import SecurityCommand
from security.management.inputs import targets_or_error


class Command(SecurityCommand):
    help = "Remove IP addresses or networks from the blocklist."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("targets", nargs="+", metavar="TARGET")

    def handle(self, *args, **options) -> None:
        targets = targets_or_error(options["targets"])
        removed = blocklist.unblock(targets)
        self.stdout.write(f"unblocked {removed} of {len(targets)} target(s)")
