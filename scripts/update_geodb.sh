#!/usr/bin/env bash
# Download MaxMind's GeoLite2 City and ASN databases into $GEOIP_PATH (default geo_data/), verify
# their SHA-256 and that they open, and swap each in atomically. Needs MAXMIND_ACCOUNT_ID and
# MAXMIND_LICENSE_KEY (a free GeoLite2 account); MAXMIND_DOWNLOAD_URL overrides the endpoint.
# Any failure exits 1 with one line on stderr and leaves the current database in place.
# It runs `manage.py update_geodb` (what a host site that installed the app runs), so the site's
# settings apply: DJANGO_SECRET_KEY as for any manage.py command, GEOIP_PATH.
#
# MaxMind publishes updates twice a week; a cron line for Tuesdays and Fridays:
#   17 4 * * 2,5  cd /srv/site && MAXMIND_ACCOUNT_ID=... MAXMIND_LICENSE_KEY=... scripts/update_geodb.sh
# Extra arguments go to the command (--edition GeoLite2-City).
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ensure_venv requirements.txt
cd "$ROOT"
exec "$VENV/bin/python" manage.py update_geodb "$@"
