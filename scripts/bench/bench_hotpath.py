"""Hot path: requests/s on a trivial view with and without the security middleware.

gunicorn with 2 workers, wrk on loopback, the two servers measured in alternating rounds;
the median of each is compared. Budget: with >= 0.90 x without, under WSGI (sync workers)
and under ASGI (uvicorn workers) alike.
"""

import benchlib


def measure(asgi: bool, rounds: int, seconds: int) -> benchlib.Result:
    full, full_url = benchlib.start_gunicorn("bench_settings", asgi=asgi)
    bare, bare_url = benchlib.start_gunicorn("bench_bare_settings", asgi=asgi)
    view = "/async-trivial/" if asgi else "/trivial/"
    try:
        rates = benchlib.alternate(
            [("bare", bare_url + view), ("full", full_url + view)], rounds, seconds
        )
    finally:
        full.stop()
        bare.stop()
    ratio = rates["full"] / rates["bare"]
    return benchlib.Result(
        f"hot path: full middleware stack ({'ASGI, async view' if asgi else 'WSGI'})",
        rates["full"],
        "req/s",
        "without security middleware",
        rates["bare"],
        ">= 0.90",
        ratio >= 0.90,
    )


def run(rounds: int = 5, seconds: int = 5) -> list[benchlib.Result]:
    benchlib.setup_django()
    from security.models import BlockedIP

    BlockedIP.objects.all().delete()
    return [measure(False, rounds, seconds), measure(True, rounds, seconds)]


if __name__ == "__main__":
    benchlib.print_results(run())
