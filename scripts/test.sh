#!/usr/bin/env bash
# Set everything up and run the linters and the whole test suite: once on SQLite, once on
# PostgreSQL (TEST_DATABASE_URL). Exits non-zero on any failure. Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export PYTHONUNBUFFERED=1

ensure_venv requirements.txt requirements-dev.txt
ensure_redis "$TEST_REDIS_URL"
# The dashboard test drives Debian's Chromium with Playwright (no browser download).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing chromium with apt-get (for the browser test)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
      || die "apt-get could not install chromium"
  else
    die "the browser test needs /usr/bin/chromium (Debian: sudo apt-get install chromium)"
  fi
fi
# The export test checks the nginx file with `nginx -t`: Debian's nginx binary, unpacked into
# .run/ (not installed, so no service starts on port 80).
NGINX_BIN="$RUN_DIR/nginx/usr/sbin/nginx"
if ! command -v nginx >/dev/null && [ ! -x "$NGINX_BIN" ] && command -v apt-get >/dev/null; then
  say "fetching Debian's nginx package (unpacked into .run/nginx) for the export test"
  fetch_nginx() {
    (cd "$RUN_DIR" && apt-get download -qq nginx >/dev/null 2>&1 \
      && dpkg -x nginx_*.deb nginx && rm -f nginx_*.deb)
  }
  fetch_nginx || { [ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null && fetch_nginx; } \
    || say "could not fetch nginx: the nginx -t test will fail in CI"
fi
[ -x "$NGINX_BIN" ] && export NGINX_BIN
cd "$ROOT"

say "ruff check"
"$VENV/bin/ruff" check .
say "ruff format --check"
"$VENV/bin/ruff" format --check .
say "mypy (strict, with django-stubs: pyproject.toml [tool.mypy])"
"$VENV/bin/mypy"

status=0
say "test suite on SQLite"
DATABASE_URL="sqlite:///$RUN_DIR/test-sqlite.sqlite3" "$VENV/bin/python" -m pytest "$@" || status=$?

pg_reachable() {
  "$VENV/bin/python" - "$TEST_DATABASE_URL" <<'PY'
import sys, psycopg
try:
    psycopg.connect(sys.argv[1], connect_timeout=3).close()
except Exception as error:
    print(f"   ({error})".splitlines()[0], file=sys.stderr)
    sys.exit(1)
PY
}
if pg_reachable; then
  say "test suite on PostgreSQL ($TEST_DATABASE_URL)"
  DATABASE_URL="$TEST_DATABASE_URL" "$VENV/bin/python" -m pytest "$@" || status=$?
elif [ "${CI:-}" = "true" ]; then
  say "PostgreSQL is not reachable at $TEST_DATABASE_URL: CI must test on it"
  status=1
else
  say "PostgreSQL is not reachable at $TEST_DATABASE_URL: skipped the PostgreSQL run"
fi

# The newest Django the package claims (noxfile.py NEWEST, on the newest Python it tests) on
# PostgreSQL as well: the runs above are the LTS. nox makes its venv (.nox/) from pyenv's or the
# PATH's Python; the rest of the matrix (SQLite, every cell) is `.venv/bin/nox`, by hand. Here
# without the tests marked slow (real servers, browsers, the wheel: they exercise the same code
# through processes: the whole run took 10:45 here, this one 4:52), to keep CI under 45 minutes;
# `.venv/bin/nox -s newest_on_postgresql` runs all of it.
if pg_reachable; then
  say "test suite on PostgreSQL with the newest Django (nox: newest_on_postgresql, not slow)"
  "$VENV/bin/nox" --non-interactive -s newest_on_postgresql -- -m "not slow and not multihost" "$@" \
    || status=$?
fi

# Many hosts on one machine: network namespaces (root and iproute2). Once, on its own
# PostgreSQL and Redis (it starts them inside the namespaces).
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
  # Its Redis runs behind three Sentinels (Debian's redis-sentinel), and it cuts hosts off with
  # nftables as well as by unplugging their links.
  if ! command -v redis-sentinel >/dev/null || ! command -v nft >/dev/null; then
    say "installing redis-sentinel and nftables with apt-get (for the multi-host test)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-sentinel nftables >/dev/null \
      || die "apt-get could not install redis-sentinel and nftables"
  fi
  say "multi-host test (network namespaces)"
  # Exit code 5: extra arguments (-k ...) selected none of it.
  "$VENV/bin/python" -m pytest -m multihost -s tests/multihost "$@" || { rc=$?; [ "$rc" = 5 ] || status=$rc; }
elif [ "${CI:-}" = "true" ]; then
  say "the multi-host test needs root and iproute2 (ip netns): CI must run it"
  status=1
else
  say "skipped the multi-host test: it needs root and iproute2 (ip netns) to make its hosts"
fi

# pytest's exit code 5 (no tests collected) is a failure here too.
[ "$status" = 0 ] && say "all test runs passed" || say "FAILED (exit $status)"
exit "$status"
