from django.core.management.base import BaseCommand, CommandError, CommandParser

from security import blocklist
from security.targets import InvalidInput, parse_targets


class Command(BaseCommand):
    help = "Remove IP addresses or networks from the blocklist."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("targets", nargs="+", metavar="TARGET")

    def handle(self, *args, **options) -> None:
        try:
            targets = parse_targets(options["targets"])
        except InvalidInput as error:
            raise CommandError(str(error)) from error
        removed = blocklist.unblock(targets)
        self.stdout.write(f"unblocked {removed} of {len(targets)} target(s)")
