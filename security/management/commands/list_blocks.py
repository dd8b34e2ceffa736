import json
from typing import Any

from django.core.management.base import CommandParser
from django.db.models import Q

from security.conf import conf
from security.management.base import SecurityCommand
from security.models import BlockedIP, BlockSource
from security.models.blocking import BlockedIPQuerySet

# What an operator asks for, and the stored sources each means.
SOURCES = {
    "manual": [BlockSource.MANUAL, BlockSource.IMPORT],
    "auto": [BlockSource.AUTOMATIC],
    "feed": [BlockSource.FEED],
    "country": [],  # settings, not rows: see rules()
}


def rules() -> list[dict]:
    """The country and network-operator rules (SECURITY_BLOCK_COUNTRIES, _ALLOW_COUNTRIES,
    _BLOCK_ASNS), always in force while configured."""
    found = [(f"country {code}", "block") for code in sorted(conf.BLOCK_COUNTRIES)]
    found += [(f"country {code}", "allow only") for code in sorted(conf.ALLOW_COUNTRIES)]
    found += [(f"AS{number}", "block") for number in sorted(conf.BLOCK_ASNS)]
    return [
        {"target": target, "rule": rule, "source": "country", "active": True}
        for target, rule in found
    ]


def selected(active: bool, source: str | None) -> BlockedIPQuerySet:
    rows = BlockedIP.objects.active() if active else BlockedIP.objects.all()
    if source:
        rows = rows.filter(Q(source__in=SOURCES[source]))
    return rows.order_by("ip_address", "feed")


def as_json(row: BlockedIP) -> dict:
    return {
        "target": row.ip_address,
        "source": row.source,
        "feed": row.feed or None,
        "reason": row.reason,
        "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "active": row.is_active,
        "strikes": row.strikes,
    }


class Command(SecurityCommand):
    help = (
        "List blocks (every source's row; --active: only those in force now), as a table or "
        "one JSON object per line with --json. --source country lists the country and ASN "
        "rules of the settings."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--active", action="store_true", help="only blocks in force now")
        parser.add_argument("--source", choices=list(SOURCES), help="only this source")
        parser.add_argument("--json", action="store_true", help="one JSON object per line")

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        if options["source"] in (None, "country"):
            for rule in rules():
                count += 1
                if options["json"]:
                    self.stdout.write(json.dumps(rule))
                else:
                    self.stdout.write(f"{rule['target']}\tcountry rule\t{rule['rule']}")
        if options["source"] == "country":
            self.summary(count, options)
            return
        for row in selected(options["active"], options["source"]).iterator(chunk_size=2000):
            count += 1
            if options["json"]:
                self.stdout.write(json.dumps(as_json(row)))
                continue
            until = f"{row.expires_at:%Y-%m-%d %H:%M UTC}" if row.expires_at else "for good"
            state = "" if row.is_active else " (expired)"
            origin = f"feed {row.feed}" if row.feed else row.source
            self.stdout.write(f"{row.ip_address}\t{origin}\t{until}{state}\t{row.reason}")
        self.summary(count, options)

    def summary(self, count: int, options: dict) -> None:
        if not options["json"]:
            self.stderr.write(f"{count:,} block{'s' * (count != 1)}")
