"""Command-line input for the management commands: parse or fail with a one-line error."""

from collections.abc import Iterable

from django.core.management import CommandError

from security.targets import InvalidInput, parse_targets


def targets_or_error(texts: Iterable[str], allow_huge: bool = True) -> list[str]:
    """Removing a wide network is harmless; blocking or allowlisting one needs --force (an
    allowlist entry wins over every block it covers)."""
    try:
        return parse_targets(texts, allow_huge)
    except InvalidInput as error:
        raise CommandError(str(error)) from error
