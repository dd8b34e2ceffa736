import json
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from security.console import address, inspect_text
from security.management.base import SecurityCommand
from security.targets import InvalidInput


class Command(SecurityCommand):
    help = (
        "The address page in a terminal: what blocks an address or network and why (exact and "
        "covering blocks, feeds, allowlist, country/ASN rules), its flags, its recent requests."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", metavar="TARGET")
        parser.add_argument("--json", action="store_true", help="one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            found = address.report(options["target"])
        except InvalidInput as error:
            raise CommandError(str(error)) from error
        if options["json"]:
            self.stdout.write(json.dumps(found.as_json(), cls=DjangoJSONEncoder))
        else:
            self.stdout.write("\n".join(inspect_text.lines(found)))
