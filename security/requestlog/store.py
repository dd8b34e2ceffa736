"""Records -> RequestLog rows: geolocate each address once, insert what is new, count it."""

from django.db import transaction

from ..models import RequestLog
from . import records, rollups


def geolocate_records(batch: list[records.Record], use_network: bool) -> dict[str, dict]:
    # Imported here: geolocation pulls in geoip2 and requests, which the web processes need
    # only on the rare direct write.
    from ..geo import lookup_many

    ips = {record.ip for record in batch if record.ip}
    return {ip: result.as_fields() for ip, result in lookup_many(ips, use_network).items()}


def store_records(batch: list[records.Record], use_network: bool = True) -> int:
    return len(store_new_rows(batch, use_network))


def store_new_rows(batch: list[records.Record], use_network: bool = True) -> list[RequestLog]:
    """Insert the records not stored yet, count only those into the rollups, return them."""
    geo = geolocate_records(batch, use_network)
    rows = {}
    for record in batch:
        row = records.to_model(record, geo.get(record.ip or ""))
        rows[row.record_id] = row
    with transaction.atomic():
        ids = list(rows)
        for start in range(0, len(ids), 500):
            stored = RequestLog.objects.filter(record_id__in=ids[start : start + 500])
            for record_id in stored.values_list("record_id", flat=True):
                del rows[record_id]
        new = list(rows.values())
        RequestLog.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)
        rollups.add(rollups.count_rows(new))
    return new
