#!/usr/bin/env bash
# Set everything up and run the site: web on 127.0.0.1:$PORT, a Dramatiq worker and the
# periodiq scheduler, in the foreground until Ctrl-C.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

export DJANGO_DEBUG="${DJANGO_DEBUG:-1}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export PORT="${PORT:-8000}"
export PYTHONUNBUFFERED=1

ensure_venv requirements.txt
ensure_redis "$REDIS_URL"
cd "$ROOT"
say "applying migrations"
"$VENV/bin/python" manage.py migrate --noinput
"$VENV/bin/python" manage.py collectstatic --noinput >/dev/null
# prometheus_client's multiprocess mode: an empty directory per run (project/gunicorn.conf.py).
export PROMETHEUS_MULTIPROC_DIR="$RUN_DIR/prometheus"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
say "serving http://127.0.0.1:$PORT/ (web, worker, scheduler; Ctrl-C stops all)"
exec "$VENV/bin/honcho" start -f "$ROOT/Procfile" -d "$ROOT" -p "$PORT"
