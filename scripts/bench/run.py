"""Every benchmark in one run, printed as one table. Run after scripts/test.sh (which installs
the development packages), with PostgreSQL and Redis reachable:

    .venv/bin/python scripts/bench/run.py             # all of them, about 5 minutes
    .venv/bin/python scripts/bench/run.py hotpath scan  # some of them

Areas: hotpath, instructions, blocklist, geo, drain, detection, inline, regex_growth, scan,
dashboard, faults, feeds, partitions. bench_console.py and bench_analytics.py fill 10 million
rows and run alone.

BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ip_tracking_bench) and
BENCH_REDIS_URL (default redis://127.0.0.1:6379/14) are the benchmark's own; they are filled
and emptied freely. Exits 1 when a figure is over its budget.
"""

import sys

import benchlib

AREAS = [
    "hotpath",
    "instructions",
    "blocklist",
    "geo",
    "drain",
    "detection",
    "inline",
    "regex_growth",
    "scan",
    "dashboard",
    "faults",
    "feeds",
    "partitions",
]


def main(areas: list[str]) -> int:
    unknown = [a for a in areas if a not in AREAS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(AREAS)}")
        return 2
    results = []
    for area in areas or AREAS:
        module = __import__(f"bench_{area}")
        print(f"== {area}", flush=True)
        found = module.run()
        benchlib.print_results(found)  # as each area ends: a later failure loses nothing
        results += found
    print()
    benchlib.print_results(results)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
