from typing import Any

from django.core.management.base import CommandError, CommandParser

from security.blocking import export
from security.management.base import SecurityCommand


class Command(SecurityCommand):
    help = (
        "Write the active blocks (merged networks, allowlist cut out) for nginx, ipset, CSV or "
        "JSON, to stdout or atomically to --output."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=list(export.FORMATS), required=True)
        parser.add_argument("--output", metavar="PATH", help="write here instead of stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        networks = export.active_networks()
        text = export.render(networks, options["format"])
        if options["output"]:
            try:
                export.write_atomically(options["output"], text)
            except OSError as error:
                raise CommandError(
                    f"cannot write {options['output']}: {error.strerror or error}"
                ) from error
            count = len(networks)
            self.stderr.write(f"wrote {count} network{'s' * (count != 1)} to {options['output']}")
        else:
            self.stdout.write(text, ending="")
