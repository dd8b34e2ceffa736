import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from security.detection import scan
from security.management.base import SecurityCommand
from security.management.progress import TerminalProgress

MAX_HOURS = 24 * 30


class Command(SecurityCommand):
    help = (
        "Run the anomaly scan now over the last N hours; print one JSON line per finding. "
        "With SECURITY_AUTO_BLOCK on, what it flags is blocked automatically, as by the "
        "hourly scan."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", default="1", help="window length in hours (default 1)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            hours = int(options["hours"])
        except ValueError:
            hours = 0
        if not 1 <= hours <= MAX_HOURS:
            raise CommandError(f"--hours must be a whole number from 1 to {MAX_HOURS}")
        with TerminalProgress(self.stderr, "pass") as progress:
            findings = scan.scan_exclusively(hours, progress=progress)
        if findings is None:
            raise CommandError("another anomaly scan is running; try again when it is done")
        for finding in findings:
            self.stdout.write(json.dumps(finding.as_json()))
        if not findings:
            plural = "s" * (hours != 1)
            self.stderr.write(f"nothing flagged in the last {hours} hour{plural}")
