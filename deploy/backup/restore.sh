#!/usr/bin/env bash
# Restore a dump made by backup.sh into an empty database.
#
#   DATABASE_URL=postgres://user:password@host:5432/central_restored \
#       deploy/backup/restore.sh backups/central-20250101T020000Z.dump
#
# The target database must exist and hold no tables (create it with `createdb`, or let
# the TimescaleDB image create it); the script refuses anything else, so it can never
# overwrite live data. Objects are owned by the connecting user (--no-owner) and the
# dump's GRANTs are skipped (--no-privileges). A dump of a TimescaleDB database is
# restored the way TimescaleDB documents: timescaledb_pre_restore() before,
# timescaledb_post_restore() after, on a server with the same TimescaleDB version.
# If the restore fails part way, drop and recreate the database before trying again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"

(($# == 1)) || die "usage: DATABASE_URL=... $0 DUMP_FILE"
dump=$1
[[ -r $dump ]] || die "cannot read $dump"
read_database_url
require_tools pg_restore psql

contents=$(pg_restore --list "$dump") || die "$dump is not a pg_dump custom-format archive"

sql() {
    psql --dbname="$DB_URL" --no-psqlrc --quiet --tuples-only --no-align \
        --set=ON_ERROR_STOP=1 --command="$1"
}

# Relations outside the system schemas that no extension owns (TimescaleDB's own
# catalog tables, present in an empty database of its image, do not count).
existing=$(sql "
    SELECT count(*) FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg_toast%'
      AND NOT EXISTS (
          SELECT 1 FROM pg_depend d
          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
      )")
((existing == 0)) || die "the target database is not empty: it holds $existing tables, views or sequences; restore into a new, empty database"

timescale=false
if grep -Eq ' EXTENSION - timescaledb( |$)' <<<"$contents"; then
    timescale=true
    log "the dump uses TimescaleDB: preparing the database for restore"
    sql "CREATE EXTENSION IF NOT EXISTS timescaledb" >/dev/null
    sql "SELECT timescaledb_pre_restore()" >/dev/null
fi

log "restoring $dump"
pg_restore --dbname="$DB_URL" --no-owner --no-privileges --exit-on-error "$dump"

if $timescale; then
    sql "SELECT timescaledb_post_restore()" >/dev/null
fi
log "updating planner statistics"
sql "ANALYZE" >/dev/null
log "done"
