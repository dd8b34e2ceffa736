"""Drain throughput: records/s from the Redis stream into the database (with rollups), against
a plain bulk_create of the same rows measured in the same run. Budget: >= 5,000 records/s."""

import time
import uuid

import benchlib


def make_records(count: int) -> list:
    from security.requestlog.records import Record

    now = time.time()
    return [
        Record(
            uuid.uuid4().hex,
            now - i * 0.001,
            f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
            "GET",
            f"/page/{i % 500}/",
            200 if i % 20 else 404,
            3,
            user_agent="Mozilla/5.0 (benchmark)",
        )
        for i in range(count)
    ]


def run(count: int = 50_000) -> list[benchlib.Result]:
    benchlib.setup_django()
    from django.db import transaction

    from security.models import RequestLog, RequestRollup
    from security.redis_client import get_redis
    from security.requestlog import drain, records, stream

    get_redis().delete("security:requestlog")
    RequestLog.objects.all().delete()
    RequestRollup.objects.all().delete()

    baseline_rows = [records.to_model(r) for r in make_records(count)]
    started = time.perf_counter()
    with transaction.atomic():
        RequestLog.objects.bulk_create(baseline_rows, batch_size=500)
    baseline = count / (time.perf_counter() - started)
    RequestLog.objects.all().delete()

    batch = make_records(count)
    for start in range(0, count, 500):
        stream.publish([records.encode_batch(batch[start : start + 500])])
    started = time.perf_counter()
    stored = 0
    while stored < count:
        stored += drain.drain(time_budget=60)
    rate = count / (time.perf_counter() - started)
    assert RequestLog.objects.count() == count
    RequestLog.objects.all().delete()
    RequestRollup.objects.all().delete()
    return [
        benchlib.Result(
            "drain: stream -> RequestLog + rollups",
            rate,
            "rec/s",
            "plain bulk_create",
            baseline,
            ">= 5,000 rec/s",
            rate >= 5000,
        )
    ]


if __name__ == "__main__":
    benchlib.print_results(run())
