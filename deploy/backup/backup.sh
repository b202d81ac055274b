#!/usr/bin/env bash
# Back up Central's PostgreSQL database: one pg_dump in custom format per run, then
# remove dumps older than the retention period.
#
#   DATABASE_URL=postgres://user:password@host:5432/central deploy/backup/backup.sh [DIR]
#
# DIR (or BACKUP_DIR): where dumps go, default ./backups. BACKUP_RETENTION_DAYS: dumps
# older than this many days are deleted, default 14; the new dump is always kept.
# pg_dump must be of the server's major version or newer. A dump appears under its
# final name (central-YYYYmmddTHHMMSSZ.dump) only once it is complete and readable.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"

backup_dir=${1:-${BACKUP_DIR:-./backups}}
retention_days=${BACKUP_RETENTION_DAYS:-14}
[[ $retention_days =~ ^[1-9][0-9]*$ ]] \
    || die "BACKUP_RETENTION_DAYS must be a whole number of days, 1 or more (got '$retention_days')"
read_database_url
require_tools pg_dump pg_restore

mkdir -p "$backup_dir"
dump="$backup_dir/central-$(date -u +%Y%m%dT%H%M%SZ).dump"
partial="$dump.partial"
trap 'rm -f "$partial"' EXIT

log "dumping the database to $dump"
pg_dump --format=custom --dbname="$DB_URL" --file="$partial"
# A dump pg_restore cannot list is no backup.
pg_restore --list "$partial" >/dev/null
mv "$partial" "$dump"
log "done: $(du -h "$dump" | cut -f1)"

log "removing dumps older than $retention_days days from $backup_dir"
find "$backup_dir" -maxdepth 1 -type f -name 'central-*.dump' \
    ! -name "$(basename "$dump")" -mmin +$((retention_days * 24 * 60)) -print -delete
