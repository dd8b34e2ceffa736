"""Detection on giant fields: no pattern may take super-linear time. Each adversarial input
(the start of a pattern repeated, so that a backtracking engine retries at every position) is
checked at 100 KB and at 1 MB in the path, the query string, the user agent and the referer;
the 1 MB time against the 100 KB time of the same input in the same run is the ratio. Linear
work is about 10; quadratic work is about 100. Budget: every ratio <= 20. (The pipeline never
hands detection a megabyte: paths are stored up to 2,000 characters and the whole user agent,
query and referer up to 8 KB; this is the margin.)

A detector that reads only the first 8 KB hides its growth from that ratio, so each input is
also timed at 8 KB, the longest field detection reads, against 8 KB of plain text in the same
field (a request's whole cost in the worker, or inline, for that field). Budget: <= 25 ms (the
quadratic pattern this found took 330 ms; linear ones take 4-18 ms on a loaded 2-core machine).

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
    # Found by measuring every pattern apart (issue 24): `invokefunction.*call_user_func_array`
    # took 0.33 s on an 8 KB user agent, `select .{1,200}? from` 0.11 s on an 8 KB query.
    "invokefunction": "invokefunction ",
    "select from": "select a from ",
    "catalog selects": "select a from dual ",
}
FIELDS = ("path", "query", "user_agent", "referer")


def check(field: str, text: str) -> None:
    from security.detection import verdicts

    values = {"path": "/", "query": "", "user_agent": "", "referer": ""}
    values[field] = ("/" + text) if field == "path" else text
    verdicts.signature_signals(values["path"], values["query"], values["user_agent"],
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
    return results + longest_fields()


LONGEST = 8192
BUDGET_MS = 25.0


def longest_fields() -> list[benchlib.Result]:
    results = []
    slowest = (0.0, "")
    plain_text = ("the quick brown fox jumps over the lazy dog " * 200)[:LONGEST]
    for field in FIELDS:
        plain = best_of(field, plain_text) * 1000
        for name, seed in SEEDS.items():
            text = (seed * (LONGEST // len(seed) + 1))[:LONGEST]
            value = best_of(field, text) * 1000
            slowest = max(slowest, (value, f"{name} in {field}"))
            results.append(benchlib.Result(f"{name} in {field}, 8 KB", value, "ms",
                                           "plain text", plain, f"<= {BUDGET_MS:g} ms",
                                           value <= BUDGET_MS))  # fmt: skip
    print(f"  8 KB fields: the slowest {slowest[0]:.2f} ms ({slowest[1]})")
    return results


if __name__ == "__main__":
    benchlib.print_results(run())
