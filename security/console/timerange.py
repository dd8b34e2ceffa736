"""The time range a console page shows: a preset ("24h", "7d", "30d", ...) or an explicit
from/to in the query string, in whole UTC hours (what the rollups count by)."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.http import QueryDict
from django.utils import timezone

PRESETS = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
DEFAULT = "7d"
LONGEST = timedelta(days=400)  # rollups are kept SECURITY_ROLLUP_RETENTION_DAYS (400)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class TimeRange:
    start: datetime  # inclusive, on the hour, UTC
    end: datetime  # exclusive, on the hour, UTC
    preset: str  # "" for an explicit from/to

    @property
    def hours(self) -> int:
        return int((self.end - self.start) / HOUR)

    def query(self) -> dict[str, str]:
        """The query-string parameters that name this range again."""
        if self.preset:
            return {"range": self.preset}
        return {"from": self.start.strftime("%Y-%m-%dT%H:%M"), "to": self.end_label()}

    def end_label(self) -> str:
        return self.end.strftime("%Y-%m-%dT%H:%M")


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def parse_moment(value: str, *, end: bool) -> datetime:
    """ "2026-11-24" (a whole day: its start, or for `end` the next midnight) or
    "2026-11-24T13:00" / "2026-11-24 13:00" (UTC). Raises ValueError."""
    value = value.strip()
    if len(value) == 10:
        day = date.fromisoformat(value)
        moment = datetime.combine(day, time(), tzinfo=UTC)
        return moment + timedelta(days=1) if end else moment
    moment = datetime.fromisoformat(value.replace(" ", "T"))
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if end and moment != floor_hour(moment):
        return floor_hour(moment) + HOUR  # the hour it falls in, counted whole
    return floor_hour(moment)


def from_query(params: QueryDict, now: datetime | None = None) -> TimeRange:
    """Raises ValueError with a one-line reason for a from/to that cannot be read."""
    now = now or timezone.now()
    this_hour_end = floor_hour(now) + HOUR
    start_text, end_text = params.get("from"), params.get("to")
    if start_text or end_text:
        try:
            start = parse_moment(start_text, end=False) if start_text else None
            end = parse_moment(end_text, end=True) if end_text else this_hour_end
        except ValueError as error:
            raise ValueError(
                f"from/to must look like 2026-11-24 or 2026-11-24T13:00 ({error})"
            ) from error
        end = min(end, this_hour_end)
        start = start if start is not None else end - PRESETS[DEFAULT]
        if start >= end:
            raise ValueError("from must come before to (and before now)")
        if end - start > LONGEST:
            raise ValueError(f"a range of at most {LONGEST.days} days")
        return TimeRange(start, end, "")
    preset = params.get("range", DEFAULT)
    if preset not in PRESETS:
        raise ValueError(f"range must be one of {', '.join(PRESETS)}")
    return TimeRange(this_hour_end - PRESETS[preset], this_hour_end, preset)
