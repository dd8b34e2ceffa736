"""The app's commands: any bad input, argparse's included, is one line on stderr and exit 1."""

import sys
from typing import NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser


class SecurityCommand(BaseCommand):
    def create_parser(self, prog_name: str, subcommand: str, **kwargs) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def one_line_error(message: str) -> NoReturn:
            if not parser.called_from_command_line:
                raise CommandError(message)
            # argparse would print the whole usage and exit 2; every other error is one line.
            sys.stderr.write(f"CommandError: {message} (see manage.py {subcommand} --help)\n")
            sys.exit(1)

        parser.error = one_line_error  # type: ignore[method-assign]
        return parser
