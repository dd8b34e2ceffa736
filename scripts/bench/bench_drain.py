"""Drain throughput into the database, against a plain Django bulk_create of the same rows
measured in the same run:
- the store step alone (records -> COPY into a temporary table -> INSERT ... ON CONFLICT DO
  NOTHING RETURNING -> rollups of what was inserted), and the same batches stored a second
  time (every record a duplicate: the idempotency the drain relies on);
- the whole drain: stream read, decode, geolocation, store, streaming detection, acknowledge.
Budgets on PostgreSQL: the store step >= 20,000 records/s, new or repeated (what one worker
writes for several web hosts); the whole drain >= 5,000 records/s (its CPU work in Python,
streaming detection above all, is the rest of its cost)."""

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

    from security import tasks
    from security.models import RequestLog, RequestRollup
    from security.redis_client import get_redis
    from security.requestlog import records, stream

    get_redis().delete("security:requestlog")
    benchlib.empty(RequestLog, RequestRollup)

    baseline_rows = [records.to_model(r) for r in make_records(count)]
    started = time.perf_counter()
    with transaction.atomic():
        RequestLog.objects.bulk_create(baseline_rows, batch_size=500)
    baseline = count / (time.perf_counter() - started)
    benchlib.empty(RequestLog)

    from security.requestlog.store import store_new_rows

    batch = make_records(count)
    chunks = [batch[start : start + 5000] for start in range(0, count, 5000)]
    started = time.perf_counter()
    inserted = sum(len(store_new_rows(chunk, use_network=False)) for chunk in chunks)
    store_rate = count / (time.perf_counter() - started)
    started = time.perf_counter()
    again = sum(len(store_new_rows(chunk, use_network=False)) for chunk in chunks)
    again_rate = count / (time.perf_counter() - started)
    assert (inserted, again, RequestLog.objects.count()) == (count, 0, count)
    benchlib.empty(RequestLog, RequestRollup)

    batch = make_records(count)
    for start in range(0, count, 500):
        stream.publish([records.encode_batch(batch[start : start + 500])])
    started = time.perf_counter()
    stored = 0
    while stored < count:
        stored += tasks.drain_logs(time_budget=60)
    rate = count / (time.perf_counter() - started)
    assert RequestLog.objects.count() == count
    benchlib.empty(RequestLog, RequestRollup)
    budget = 20_000
    return [
        benchlib.Result(
            "store: COPY + ON CONFLICT RETURNING + rollups",
            store_rate,
            "rec/s",
            "plain bulk_create",
            baseline,
            ">= 20,000 rec/s",
            store_rate >= budget,
        ),
        benchlib.Result(
            "store again: every record a duplicate",
            again_rate,
            "rec/s",
            "plain bulk_create",
            baseline,
            ">= 20,000 rec/s",
            again_rate >= budget,
        ),
        benchlib.Result(
            "drain: stream -> RequestLog + rollups",
            rate,
            "rec/s",
            "plain bulk_create",
            baseline,
            ">= 5,000 rec/s",
            rate >= 5_000,
        ),
    ]


if __name__ == "__main__":
    benchlib.print_results(run())
