"""What the analytics page and its CSV links ask for, assembled from analytics_report's
queries: the whole report of a range, or one table of it."""

from .analytics_report import (
    EXPORT_LIMIT,
    HOURLY_SERIES_UP_TO,
    PATH_COLUMNS,
    SERIES_COLUMNS,
    STATUS_SERIES_COLUMNS,
    TABLES,
    path_detail,
    series,
    status_series,
    summary,
    table,
)
from .timerange import TimeRange


def report(span: TimeRange, own: bool, path: str = "") -> dict:
    found = {
        "range": {
            "from": span.start.isoformat(),
            "to": span.end.isoformat(),
            "preset": span.preset,
            "step": "hour" if span.end - span.start <= HOURLY_SERIES_UP_TO else "day",
        },
        "own_traffic": own,
        "summary": summary(span, own),
        "series": {"columns": SERIES_COLUMNS, "rows": series(span, own)},
        "status_series": {"columns": STATUS_SERIES_COLUMNS, "rows": status_series(span, own)},
        "tables": {
            name: {"title": spec.title, "columns": spec.columns, "rows": table(name, span, own)}
            for name, spec in TABLES.items()
        },
    }
    if path:
        found["path"] = path_detail(path, span, own)
    return found


def export(name: str, span: TimeRange, own: bool, path: str = "") -> tuple[tuple, list]:
    """(columns, rows) of one table for CSV, up to EXPORT_LIMIT rows. KeyError: no such table."""
    if name == "series":
        return SERIES_COLUMNS, series(span, own)
    if name == "status_series":
        return STATUS_SERIES_COLUMNS, status_series(span, own)
    if name == "path":
        detail = path_detail(path, span, own)
        return PATH_COLUMNS, detail["series"]
    spec = TABLES[name]
    return spec.columns, table(name, span, own, limit=EXPORT_LIMIT)


EXPORTS = ("series", "status_series", *TABLES, "path")
