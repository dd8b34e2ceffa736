"""Log record ids: unique without a syscall per request, and whole only once decoded.

A process draws a random 64-bit prefix (a new one after a fork) and counts. A record built on
the web process carries only the counter: formatting 128 bits as hex costs a request 3,500
instructions. The batch it is sent in carries the prefix, and decoding joins the two into
the record's 32-hex-digit id (a UUID, the drain's key for storing each record once).
"""

import itertools
import os
import re
import uuid
from typing import Any

COUNTER_LIMIT = 2**64
ID_PREFIX = re.compile(r"[0-9a-f]{16}")
HEX_ID = re.compile(r"[0-9a-f]{32}")


class RecordIds:
    """This process's prefix and counter (see the module's docstring)."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self.prefix = f"{uuid.uuid4().int >> 64:016x}"
        self.counter = itertools.count(1)


record_ids = RecordIds()


def valid_prefix(prefix: Any) -> bool:
    return isinstance(prefix, str) and ID_PREFIX.fullmatch(prefix) is not None


def whole_id(value: Any, prefix: str | None) -> str:
    if isinstance(value, str):
        uuid.UUID(value)  # a bad id would fail the whole batch in the database
        return value
    if prefix is None or isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("not a log record id")
    if not 0 <= value < COUNTER_LIMIT:
        raise ValueError("a log record counter out of range")
    return f"{prefix}{value:016x}"


def stored_form(value: Any) -> str:
    """A whole id as the drain keys it: 32 lowercase hex digits (the UUID's .hex). Kept a
    string: a UUID object per record, and another per id the INSERT returned, were a tenth of
    the drain's time."""
    if not isinstance(value, str):
        raise ValueError("a record is stored only once decode_batch has made its id whole")
    return value if HEX_ID.fullmatch(value) else uuid.UUID(value).hex
