# Shared set-up for scripts/run.sh and scripts/test.sh: a venv from the pinned requirements,
# and a Redis server answering at REDIS_URL. Sourced, not run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
RUN_DIR="$ROOT/.run"
mkdir -p "$RUN_DIR"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ensure_venv FILE...: create .venv with the machine's python3 and install FILEs when they changed.
ensure_venv() {
  local python="${PYTHON:-python3}"
  command -v "$python" >/dev/null || die "$python not found; install Python 3.11 or newer"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$("$python" --version) is too old; Python 3.11 or newer is needed"
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtualenv in .venv"
    "$python" -m venv "$VENV" || die "could not create a venv (on Debian: apt-get install python3-venv)"
  fi
  local file stamp want
  for file in "$@"; do
    stamp="$VENV/.installed-$(basename "$file").sha256"
    want="$(sha256sum "$ROOT/$file" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
      say "installing Python packages from $file"
      "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/$file" \
        || die "pip could not install $file"
      echo "$want" >"$stamp"
    fi
  done
}

redis_answers() {
  # The app's own client: REDIS_URL may name Sentinels (redis+sentinel://...).
  "$VENV/bin/python" - "$1" "$ROOT" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from security.redis_client import client_from_url
try:
    client_from_url(sys.argv[1], socket_connect_timeout=1, socket_timeout=1).ping()
except Exception:
    sys.exit(1)
PY
}

# ensure_redis URL: use the Redis at URL, or start one on its port if it is local.
ensure_redis() {
  local url="$1"
  redis_answers "$url" && return 0
  case "$url" in
    *+sentinel://*) die "no Redis primary answers through the Sentinels of REDIS_URL" ;;
  esac
  local host port
  read -r host port < <("$VENV/bin/python" -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or 6379)' "$url")
  case "$host" in
    127.0.0.1|localhost|::1) ;;
    *) die "no Redis answers at $host:$port (REDIS_URL); start it or point REDIS_URL elsewhere" ;;
  esac
  if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing redis-server with apt-get"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    else
      die "no Redis at $host:$port and no redis-server to start; install Redis (e.g. sudo apt-get install redis-server)"
    fi
  fi
  say "starting redis-server on 127.0.0.1:$port (log: .run/redis-$port.log)"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$RUN_DIR" --logfile "$RUN_DIR/redis-$port.log" --pidfile "$RUN_DIR/redis-$port.pid" >/dev/null
  for _ in $(seq 50); do redis_answers "$url" && return 0; sleep 0.1; done
  die "redis-server did not come up on port $port; see .run/redis-$port.log"
}
