from typing import Any

from django.core.management.base import CommandError, CommandParser

from security.blocking import feed_config, feeds
from security.blocking.feed_formats import FORMATS, FeedError
from security.management.base import SecurityCommand
from security.management.progress import TerminalProgress

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
        parser.add_argument("--format", choices=list(FORMATS), help="default: plain")
        parser.add_argument("--dry-run", action="store_true", help="change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            feed = self.feed(options)
            with TerminalProgress(self.stderr, "entry", minimum=feeds.CHUNK) as progress:
                result = feeds.refresh(
                    feed, dry_run=options["dry_run"], log_failure=False, progress=progress
                )
        except FeedError as error:
            raise CommandError(f"feed {options['name']}: {error}; nothing changed") from error
        if options["dry_run"]:
            for sign, entries in (("+", result.added), ("-", result.removed)):
                for entry in entries[:SHOWN_CHANGES]:
                    self.stdout.write(f"{sign} {entry}")
                if len(entries) > SHOWN_CHANGES:
                    self.stdout.write(f"{sign} ... and {len(entries) - SHOWN_CHANGES:,} more")
        verbs = (
            ("would add", "would keep", "would remove")
            if options["dry_run"]
            else ("added", "kept", "removed")
        )
        counts = (len(result.added), result.kept, len(result.removed))
        self.stdout.write(
            f"feed {feed.name}: {result.total:,} entr{'y' if result.total == 1 else 'ies'}; "
            + ", ".join(f"{verb} {count:,}" for verb, count in zip(verbs, counts, strict=True))
        )

    @staticmethod
    def feed(options: dict) -> feed_config.Feed:
        if options["url"] or options["file"]:
            extra = {"format": options["format"]} if options["format"] else {}
            source = {"url": options["url"]} if options["url"] else {"file": options["file"]}
            return feed_config.make_feed(options["name"], {**source, **extra})
        return feed_config.configured_feed(options["name"])
