from django.core.management.base import CommandParser

from security import export
from security.management.base import SecurityCommand


class Command(SecurityCommand):
    help = (
        "Write the active blocks (merged networks, allowlist cut out) for nginx, ipset, CSV or "
        "JSON, to stdout or atomically to --output."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=export.FORMATS, required=True)
        parser.add_argument("--output", metavar="PATH", help="write here instead of stdout")

    def handle(self, *args, **options) -> None:
        networks = export.active_networks()
        text = export.render(networks, options["format"])
        if options["output"]:
            export.write_atomically(options["output"], text)
            self.stderr.write(f"wrote {len(networks)} networks to {options['output']}")
        else:
            self.stdout.write(text, ending="")
