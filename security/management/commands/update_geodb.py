"""Fetch MaxMind's GeoLite2 databases into GEOIP_PATH: what a host site runs after install and
from cron (MaxMind publishes twice a week), with MAXMIND_ACCOUNT_ID and MAXMIND_LICENSE_KEY."""

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from security.conf import conf
from security.geodb_update import KINDS, UpdateError, update_from_environment
from security.management.base import SecurityCommand


class Command(SecurityCommand):
    help = (
        "Download, verify (SHA-256) and atomically install the GeoLite2 databases into "
        "GEOIP_PATH. Needs MAXMIND_ACCOUNT_ID and MAXMIND_LICENSE_KEY (a free GeoLite2 account)."
    )
    # The checks would only repeat that the database it is about to fetch is missing.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--edition",
            action="append",
            choices=sorted(KINDS),
            help="an edition to fetch (repeatable; default: MAXMIND_EDITIONS, else City and ASN)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            for target in update_from_environment(Path(conf.GEOIP_PATH), options["edition"]):
                self.stdout.write(f"update_geodb: installed {target}")
        except UpdateError as error:
            raise CommandError(f"{error}; the current database was left in place") from error
