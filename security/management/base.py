"""The app's commands: any bad input, argparse's included, is one line on stderr and exit 1."""

import sys
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ..blocking.changes import announce_patience

# A command's blocklist change waits this long for Redis to announce it (a failover's length).
ANNOUNCE_PATIENCE_SECONDS = 15.0


class SecurityCommand(BaseCommand):
    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def one_line_error(message: str) -> NoReturn:
            if not parser.called_from_command_line:
                raise CommandError(message)
            # argparse would print the whole usage and exit 2; every other error is one line.
            sys.stderr.write(f"CommandError: {message} (see manage.py {subcommand} --help)\n")
            sys.exit(1)

        # Replacing argparse's error() on this one parser is the point.
        parser.error = one_line_error  # type: ignore[method-assign]
        return parser

    def execute(self, *args: Any, **options: Any) -> str | None:
        token = announce_patience.set(ANNOUNCE_PATIENCE_SECONDS)
        try:
            return super().execute(*args, **options)
        finally:
            announce_patience.reset(token)
