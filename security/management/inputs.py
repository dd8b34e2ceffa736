"""Command-line input for the management commands: parse or fail with a one-line error."""

from collections.abc import Iterable

from django.core.management import CommandError

from security.targets import InvalidInput, parse_targets


def targets_or_error(texts: Iterable[str]) -> list[str]:
    try:
        return parse_targets(texts)
    except InvalidInput as error:
        raise CommandError(str(error)) from error
