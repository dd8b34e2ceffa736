"""How long work reports how far it is: a callback given (done, total), in the work's own unit.

The work (a feed import, forgetting a network, a long scan) calls it as it goes; a command
shows it as a bar (management/progress.py), anything else passes nothing."""

from collections.abc import Callable

Progress = Callable[[int, int], None]


def no_progress(done: int, total: int) -> None:
    """The default: nobody is watching."""
