"""The request path in instructions: what the security middleware adds to a request, counted by
valgrind's callgrind, which repeats to the instruction on a busy machine where wall-clock
rates wander by 10%.

One child Python process per settings module (bench_settings, the full stack, and
bench_bare_settings, without `security.*` middleware) runs under `valgrind --tool=callgrind`.
It sets Django up, warms up (WARM_UP requests of each page: the URL resolver, templates, the
blocklist snapshot, the address caches and the Redis connection are ready), then serves
REQUESTS requests of each page through Django's WSGIHandler in the process, as a WSGI server
calls it: a fresh environ per request with REMOTE_ADDR and a browser's header set, the
response body read and close()d (request_finished). Pages: the demo's home page (a template)
and the trivial view bench_hotpath serves.

What is counted, and why it is exact: a few lines of C compiled here,
`ip_tracking_measured_section(callback)`, switch callgrind's collection on with a client
request (CALLGRIND_TOGGLE_COLLECT, a marker instruction sequence), call back into Python, switch
it off and dump the section to its own file (CALLGRIND_DUMP_STATS), under
`--collect-atstart=no`. Collection is per thread and starts and stops at those exact
instructions. Python's own functions are invisible to valgrind, so some C boundary is needed;
`--toggle-collect=<function>` would do without client requests, but valgrind 3.19 found no
name for a function of an object built by gcc 12 here and counted nothing. Two empty sections
come first (ctypes' way in and out, warmed by the first); the second is subtracted from the
others. The background threads (log flush, blocklist refresh) are parked on long intervals and
never run during a section.

The records reach Redis as in production: every FLUSH_EVERY requests the section flushes the
log buffer itself (MessagePack, one XADD pipeline), the work the flush thread would do, on the
measuring thread so that it is counted. The drain wake-up marker is held during the sections
(a drain already queued), so a flush is XADD + SET NX, the same every time. PYTHONHASHSEED is
fixed. Two processes agree to about 0.05% (the bare home page measured 1,686,617 and
1,685,910 instructions a request); the empty sections repeat to the instruction.

A third child runs the full stack with SECURITY_DETECT_INLINE = True (BENCH_INLINE=1): every
request's verdict asked of inline detection, as a site that refuses exploits pays.

Budget (issue 24): the home page with the full stack costs at most 1.04 x the bare one, and at
most 1.05 x with inline detection on.
"""

import ctypes
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import benchlib

WARM_UP = 200
REQUESTS = 500
FLUSH_EVERY = 500  # SECURITY_LOG_FLUSH_SIZE's default: one stream entry per flush
PAGES = [("home page", "/"), ("trivial view", "/trivial/")]
BUDGET = 1.04
INLINE_BUDGET = 1.05
SECTION = "ip_tracking_measured_section"
SHIM = f"""
#include <valgrind/callgrind.h>
typedef void (*section_body)(void);
void {SECTION}(section_body body) {{
    CALLGRIND_TOGGLE_COLLECT;
    body();
    CALLGRIND_TOGGLE_COLLECT;
    CALLGRIND_DUMP_STATS;
}}
"""
BROWSER_HEADERS = {
    "HTTP_HOST": "127.0.0.1:8000",
    "HTTP_USER_AGENT": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"
    ),
    "HTTP_ACCEPT": (
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
        "image/apng,*/*;q=0.8"
    ),
    "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9",
    "HTTP_ACCEPT_ENCODING": "gzip, deflate, br, zstd",
    "HTTP_CONNECTION": "keep-alive",
    "HTTP_REFERER": "http://127.0.0.1:8000/",
    "HTTP_UPGRADE_INSECURE_REQUESTS": "1",
    "HTTP_SEC_FETCH_DEST": "document",
    "HTTP_SEC_FETCH_MODE": "navigate",
    "HTTP_SEC_FETCH_SITE": "same-origin",
    "HTTP_SEC_FETCH_USER": "?1",
}


def compile_shim(folder: Path) -> Path:
    source, library = folder / "section.c", folder / "section.so"
    source.write_text(SHIM)
    subprocess.run(
        ["gcc", "-O0", "-shared", "-fPIC", "-o", str(library), str(source)],
        check=True,
        capture_output=True,
    )
    return library


def environ(path: str) -> dict:
    import io

    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "198.51.100.23",
        "REMOTE_PORT": "51234",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **BROWSER_HEADERS,
    }


def child(library: str, report: str) -> None:
    """Runs under callgrind: set up, warm up, then one measured section per page."""
    from django.conf import settings

    # Park the background threads: the sections flush themselves, and nothing reloads.
    settings.SECURITY_LOG_FLUSH_INTERVAL = 3600.0
    settings.SECURITY_LOG_FLUSH_SIZE = 10**9
    settings.SECURITY_BLOCKLIST_CHECK_INTERVAL = 3600.0
    settings.SECURITY_DETECT_INLINE = os.environ.get("BENCH_INLINE") == "1"
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    from security.redis_client import get_redis
    from security.requestlog import keys
    from security.requestlog.buffer import log_buffer

    handler = WSGIHandler()
    statuses: dict[str, list[int]] = {}

    def start_response(status: str, headers: list) -> None:
        statuses.setdefault(status, [])

    def serve(path: str) -> None:
        response = handler(environ(path), start_response)
        for _chunk in response:
            pass
        response.close()

    for _name, path in PAGES:
        for _ in range(WARM_UP):
            serve(path)
    log_buffer.flush()
    get_redis().set(keys.DRAIN_PENDING_KEY, 1, ex=3600)

    library_handle = ctypes.CDLL(library)
    measured = getattr(library_handle, SECTION)
    body_type = ctypes.CFUNCTYPE(None)
    measured.argtypes = [body_type]
    failures: list[str] = []

    def section(body) -> None:
        def guarded() -> None:
            try:
                body()
            except BaseException as error:  # a ctypes callback swallows exceptions
                failures.append(repr(error))

        callback = body_type(guarded)
        measured(callback)

    def requests_of(path: str):
        def body() -> None:
            for number in range(1, REQUESTS + 1):
                serve(path)
                if number % FLUSH_EVERY == 0:
                    log_buffer.flush()

        return body

    section(lambda: None)
    section(lambda: None)
    for _name, path in PAGES:
        statuses.clear()
        section(requests_of(path))
        if list(statuses) != ["200 OK"]:
            failures.append(f"{path} answered {list(statuses)}")
    get_redis().delete(keys.DRAIN_PENDING_KEY)
    Path(report).write_text(json.dumps({"failures": failures, "pending": log_buffer.pending()}))


def section_totals(folder: Path) -> list[int]:
    """Instructions of each dumped section, in order (callgrind.out.1, .2, ...; callgrind.out
    itself is the rest of the run, nothing collected)."""
    dumps = sorted(
        (path for path in folder.glob("callgrind.out.*") if path.suffix[1:].isdigit()),
        key=lambda path: int(path.suffix[1:]),
    )
    totals = []
    for dump in dumps:
        for line in dump.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                totals.append(int(line.split()[1]))
                break
    return totals


def count(settings_module: str, folder: Path, library: Path, inline: bool = False) -> list[float]:
    """Instructions per request of each page under one settings module."""
    out = folder / (settings_module + ("_inline" if inline else ""))
    out.mkdir(exist_ok=True)  # BENCH_CALLGRIND_DIR may hold an earlier run's dumps
    for stale in out.glob("callgrind.out*"):
        stale.unlink()
    report = out / "report.json"
    report.unlink(missing_ok=True)
    env = {
        **benchlib.server_env(settings_module),
        "PYTHONHASHSEED": "0",
        "BENCH_INLINE": "1" if inline else "0",
    }
    command = [
        "valgrind",
        "--tool=callgrind",
        "--collect-atstart=no",
        f"--callgrind-out-file={out / 'callgrind.out'}",
        sys.executable,
        __file__,
        "--child",
        str(library),
        str(report),
    ]
    done = subprocess.run(command, env=env, cwd=benchlib.ROOT, capture_output=True, text=True)
    if done.returncode != 0 or not report.exists():
        raise SystemExit(f"callgrind child failed ({settings_module}):\n{done.stderr[-3000:]}")
    outcome = json.loads(report.read_text())
    if outcome["failures"]:
        raise SystemExit(f"callgrind child ({settings_module}): {outcome['failures']}")
    _first, empty, *sections = section_totals(out)
    if len(sections) != len(PAGES):
        raise SystemExit(f"expected {len(PAGES) + 2} sections, found {len(sections) + 2}")
    print(f"{out.name}: sections {[_first, empty, *sections]} instructions")
    return [(total - empty) / REQUESTS for total in sections]


def run() -> list[benchlib.Result]:
    benchlib.setup_django()
    from security.models import BlockedIP

    BlockedIP.objects.all().delete()
    keep = os.environ.get("BENCH_CALLGRIND_DIR")  # keep the dumps there for callgrind_annotate
    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bench-callgrind-"))
    folder.mkdir(parents=True, exist_ok=True)
    library = compile_shim(folder)
    # The children at once: instruction counts do not depend on what else runs.
    with ThreadPoolExecutor(3) as pool:
        bare_counted = pool.submit(count, "bench_bare_settings", folder, library)
        full_counted = pool.submit(count, "bench_settings", folder, library)
        inline_counted = pool.submit(count, "bench_settings", folder, library, True)
        bare, full = bare_counted.result(), full_counted.result()
        inline = inline_counted.result()
    results = []
    for (name, _path), bare_cost, full_cost, inline_cost in zip(
        PAGES, bare, full, inline, strict=True
    ):
        print(f"{name}: {full_cost:,.1f} instructions a request ({inline_cost:,.1f} with inline "
              f"detection), {bare_cost:,.1f} bare")  # fmt: skip
        gated = name == "home page"
        for label, cost, budget in (
            ("", full_cost, BUDGET),
            (", inline on", inline_cost, INLINE_BUDGET),
        ):
            results.append(
                benchlib.Result(
                    f"instructions: full stack{label}, {name}",
                    cost,
                    "Ir",
                    "without security middleware",
                    bare_cost,
                    f"<= {budget:.2f}" if gated else "reported",
                    cost <= budget * bare_cost if gated else True,
                )
            )
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3])
    else:
        benchlib.print_results(run())
