"""Mask the secrets that versions before 0.4 logged: reset tokens in paths, secret-named query
parameters, and both in referers, in request logs, path rollups and evidence samples. Only
rows that could hold one are read (a query string, a referer with a query, or a path with a
token's shape); on PostgreSQL about 2 s per million request logs."""

from collections import Counter

from django.db import migrations
from django.db.models import Q

from security.requestlog.masking import mask_path_patterns, mask_query, mask_url

CHUNK = 2000
TOKEN_SHAPE = r"[0-9a-z]-[0-9a-f]{20}|:[A-Za-z0-9_-]{27}"


def masked_row(row) -> dict:
    values = {
        "path": mask_path_patterns(row.path),
        "query": mask_query(row.query),
        "referer": mask_url(row.referer),
    }
    return {name: value for name, value in values.items() if value != getattr(row, name)}


def mask_request_logs(RequestLog) -> None:
    candidates = RequestLog.objects.filter(
        ~Q(query="") | Q(referer__contains="?") | Q(path__regex=TOKEN_SHAPE)
    ).order_by("pk")
    last = 0
    while True:
        rows = list(candidates.filter(pk__gt=last)[:CHUNK])
        if not rows:
            return
        for row in rows:
            changes = masked_row(row)
            if changes:
                RequestLog.objects.filter(pk=row.pk).update(**changes)
        last = rows[-1].pk


def mask_path_rollups(RequestRollup) -> None:
    merged: Counter = Counter()
    stale = []
    for row in RequestRollup.objects.filter(kind="path", key__regex=TOKEN_SHAPE):
        key = mask_path_patterns(row.key)
        if key != row.key:
            merged[(row.hour, key, row.shard)] += row.count
            stale.append(row.pk)
    RequestRollup.objects.filter(pk__in=stale).delete()
    for (hour, key, shard), count in merged.items():
        row, created = RequestRollup.objects.get_or_create(
            hour=hour, kind="path", key=key, shard=shard, defaults={"count": count}
        )
        if not created:
            RequestRollup.objects.filter(pk=row.pk).update(count=row.count + count)


def mask_evidence(SuspiciousIP) -> None:
    for row in SuspiciousIP.objects.exclude(evidence={}).iterator(chunk_size=CHUNK):
        samples = row.evidence.get("requests") if isinstance(row.evidence, dict) else None
        if not isinstance(samples, list):
            continue
        changed = False
        for sample in samples:
            if not isinstance(sample, dict):
                continue
            for name, mask in (("path", mask_path_patterns), ("query", mask_query)):
                value = sample.get(name)
                if isinstance(value, str) and mask(value) != value:
                    sample[name] = mask(value)
                    changed = True
        if changed:
            SuspiciousIP.objects.filter(pk=row.pk).update(evidence=row.evidence)


def mask_stored_secrets(apps, schema_editor) -> None:
    mask_request_logs(apps.get_model("security", "RequestLog"))
    mask_path_rollups(apps.get_model("security", "RequestRollup"))
    mask_evidence(apps.get_model("security", "SuspiciousIP"))


class Migration(migrations.Migration):
    dependencies = [
        ("security", "0005_rollup_shards_scheduled_runs"),
    ]

    operations = [
        migrations.RunPython(mask_stored_secrets, migrations.RunPython.noop, elidable=True),
    ]
