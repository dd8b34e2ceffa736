from django.core.management.base import CommandError, CommandParser

from security import feeds
from security.management.base import SecurityCommand

SHOWN_CHANGES = 20


class Command(SecurityCommand):
    help = (
        "Fetch a threat feed now and replace its blocks: a feed named in SECURITY_FEEDS, or a "
        "one-off NAME with --url or --file. --dry-run prints what would be added and removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", metavar="NAME")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--url", help="download the list from here")
        source.add_argument("--file", help="read the list from this file")
        parser.add_argument("--format", choices=feeds.FORMATS, help="default: plain")
        parser.add_argument("--dry-run", action="store_true", help="change nothing")

    def handle(self, *args, **options) -> None:
        try:
            feed = self.feed(options)
            result = feeds.refresh(feed, dry_run=options["dry_run"])
        except feeds.FeedError as error:
            raise CommandError(f"feed {options['name']}: {error}; nothing changed") from error
        if options["dry_run"]:
            for sign, entries in (("+", result.added), ("-", result.removed)):
                for entry in entries[:SHOWN_CHANGES]:
                    self.stdout.write(f"{sign} {entry}")
                if len(entries) > SHOWN_CHANGES:
                    self.stdout.write(f"{sign} ... and {len(entries) - SHOWN_CHANGES:,} more")
        verb = "would add" if options["dry_run"] else "added"
        self.stdout.write(
            f"feed {feed.name}: {result.total:,} entries; {verb} {len(result.added):,}, "
            f"{'would remove' if options['dry_run'] else 'removed'} {len(result.removed):,}"
        )

    @staticmethod
    def feed(options: dict) -> feeds.Feed:
        configured = feeds.configured_feeds()
        name = options["name"]
        if options["url"] or options["file"]:
            extra = {"format": options["format"]} if options["format"] else {}
            source = {"url": options["url"]} if options["url"] else {"file": options["file"]}
            return feeds.make_feed(name, {**source, **extra})
        if name not in configured:
            known = ", ".join(sorted(configured)) or "none configured"
            raise feeds.FeedError(f"not in SECURITY_FEEDS ({known}); give --url or --file")
        return configured[name]
