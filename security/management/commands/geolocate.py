import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from security.addresses import parse_address
from security.geo import lookup_many
from security.management.base import SecurityCommand


class Command(SecurityCommand):
    help = "Geolocate IP addresses: one JSON object per line (local database, cache, then API)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ips", nargs="+", metavar="IP")

    def handle(self, *args: Any, **options: Any) -> None:
        ips = []
        for raw in options["ips"]:
            ip = parse_address(raw)
            if ip is None:
                raise CommandError(f"{raw[:64]!r} is not an IP address (no zone, no network)")
            ips.append(ip)
        results = lookup_many(ips)
        for ip in ips:
            self.stdout.write(json.dumps(results[ip].as_dict(), ensure_ascii=False))
