"""A command's progress bar: tqdm on its stderr when that is a terminal, nothing otherwise (a
cron job's mail or a log file gets the one-line result, not the bar's redraws)."""

from types import TracebackType
from typing import TextIO, cast

from django.core.management.base import OutputWrapper
from tqdm import tqdm


class TerminalProgress:
    """A security.progress.Progress: call it with (done, total). Work of fewer than `minimum`
    units shows no bar (it ends before a bar would tell anything)."""

    def __init__(self, stream: OutputWrapper | TextIO, unit: str, minimum: int = 0) -> None:
        # OutputWrapper's isatty() answers for the stream it wraps; tqdm writes to that stream.
        self.stream = cast(TextIO, stream._out) if isinstance(stream, OutputWrapper) else stream
        self.unit = unit
        self.minimum = minimum
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            if total < self.minimum or not self.stream.isatty():
                return
            self.bar = tqdm(total=total, unit=self.unit, file=self.stream)
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "TerminalProgress":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
