"""Detection on giant fields: no pattern may take super-linear time. Each adversarial input
(the start of a pattern repeated, so that a backtracking engine retries at every position) is
checked at 100 KB and at 1 MB in the path, the query string, the user agent and the referer;
the 1 MB time against the 100 KB time of the same input in the same run is the ratio. Linear
work is about 10; quadratic work is about 100. Budget: every ratio <= 20. (The pipeline never
hands detection a megabyte: paths are stored up to 2,000 characters and the whole user agent,
query and referer up to 8 KB; this is the margin.)

    .venv/bin/python scripts/bench/bench_regex_growth.py
"""

import time

import benchlib

SMALL, BIG = 100_000, 1_000_000
# Starts of what the detectors look for, repeated: each is a near-miss at every offset.
SEEDS = {
    "percent signs": "%",
    "percent-u": "%u00",
    "open lookups": "${",
    "lookup defaults": "${a:-",
    "quotes": "'",
    "sql words": "' or 1",
    "comment opens": "/*",
    "html comments": "<!--",
    "tag opens": "<",
    "script starts": "<scr",
    "event handlers": " onx",
    "traversal": "../",
    "encoded traversal": "..%2f",
    "js escapes": "\\x4",
    "css escapes": "\\00",
    "path parameters": ";a",
    "equals": "=",
    "ampersands": "&a=",
    "urls": "http://",
    "php openers": "<?",
    "shell metas": ";$(",
    "backticks": "`a",
    "spaces": " \t",
    "letters": "a",
}
FIELDS = ("path", "query", "user_agent", "referer")


def check(field: str, text: str) -> None:
    from security.detection import rules

    values = {"path": "/", "query": "", "user_agent": "", "referer": ""}
    values[field] = ("/" + text) if field == "path" else text
    rules.signature_signals(values["path"], values["query"], values["user_agent"],
                            values["referer"])  # fmt: skip


RUNS = iter(range(10**9))


def best_of(field: str, text: str, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        unique = f"{next(RUNS)}{text}"  # the detectors cache answers by value: never a repeat
        started = time.perf_counter()
        check(field, unique)
        times.append(time.perf_counter() - started)
    return min(times)


def run() -> list[benchlib.Result]:
    benchlib.setup_django()
    results = []
    worst = (0.0, "")
    for name, seed in SEEDS.items():
        small = (seed * (SMALL // len(seed) + 1))[:SMALL]
        big = (seed * (BIG // len(seed) + 1))[:BIG]
        for field in FIELDS:
            base = best_of(field, small)
            value = best_of(field, big, repeat=2)
            ratio = value / base if base else 0.0
            worst = max(worst, (ratio, f"{name} in {field}"))
            if ratio > 20:
                print(f"  super-linear: {name} in {field}: {value:.3f} s at 1 MB, {ratio:.1f}x")
            results.append(benchlib.Result(f"{name} in {field}, 1 MB", value, "s",
                                           "100 KB", base, "<= 20x", ratio <= 20))  # fmt: skip
    print(f"  {len(results)} checks; the largest ratio: {worst[0]:.1f}x ({worst[1]})")
    return results


if __name__ == "__main__":
    benchlib.print_results(run())
