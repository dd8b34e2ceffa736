"""Hot path: requests/s on a trivial view with and without the security middleware.

gunicorn with 2 workers, wrk on loopback, the two servers measured in alternating rounds;
the median of each is compared. Budget: with >= 0.90 x without.
"""

import benchlib


def run(rounds: int = 5, seconds: int = 5) -> list[benchlib.Result]:
    benchlib.setup_django()
    from security.models import BlockedIP

    BlockedIP.objects.all().delete()
    full, full_url = benchlib.start_gunicorn("bench_settings")
    bare, bare_url = benchlib.start_gunicorn("bench_bare_settings")
    try:
        rates = benchlib.alternate(
            [("bare", bare_url + "/trivial/"), ("full", full_url + "/trivial/")], rounds, seconds
        )
    finally:
        full.stop()
        bare.stop()
    ratio = rates["full"] / rates["bare"]
    return [
        benchlib.Result(
            "hot path: full middleware stack",
            rates["full"],
            "req/s",
            "without security middleware",
            rates["bare"],
            ">= 0.90",
            ratio >= 0.90,
        )
    ]


if __name__ == "__main__":
    benchlib.print_results(run())
