"""Dashboard: page plus data endpoint on 2,000,000 log rows (1,000,000 in the last hour),
against computing the same figures straight from RequestLog, measured in the same run.
Budget: well under a second."""

import benchlib


def naive_summary(since) -> dict:
    from django.db.models import Count
    from django.db.models.functions import TruncHour

    from security.models import RequestLog

    rows = RequestLog.objects.filter(timestamp__gte=since)

    def top(field: str) -> list:
        return list(rows.values(field).annotate(n=Count("id")).order_by("-n")[:10])

    return {
        "series": list(rows.annotate(h=TruncHour("timestamp")).values("h").annotate(n=Count("id"))),
        "status": list(rows.values("status_code").annotate(n=Count("id"))),
        "countries": top("country_code"),
        "ips": top("ip_address"),
        "paths": top("path"),
        "blocked": rows.filter(blocked=True).count(),
    }


def run() -> list[benchlib.Result]:
    benchlib.setup_django()
    import bench_scan
    from django.contrib.auth.models import User
    from django.test import Client
    from django.test.utils import setup_test_environment

    from security import dashboard

    bench_scan.populate()
    setup_test_environment()
    # An operator with the dashboard's permissions (staff alone is refused).
    user, _ = User.objects.get_or_create(
        username="bench-operator", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)

    def render() -> None:
        page = client.get("/security/dashboard/")
        data = client.get("/security/dashboard/data.json")
        assert page.status_code == data.status_code == 200
        assert data.json()["total"] >= 1_000_000

    seconds = benchlib.timed(render, repeat=5)
    since = dashboard.window_start("24h")
    baseline = benchlib.timed(lambda: naive_summary(since), repeat=2)
    return [
        benchlib.Result(
            "dashboard page + data, 2M rows",
            seconds,
            "s",
            "same figures from RequestLog",
            baseline,
            "< 1 s",
            seconds < 1.0,
        )
    ]


if __name__ == "__main__":
    benchlib.print_results(run())
