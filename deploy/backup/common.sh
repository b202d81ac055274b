# shellcheck shell=bash
# Shared by backup.sh and restore.sh (sourced, not run): connection from DATABASE_URL.
#
# DATABASE_URL is the URL the settings read (postgres://user:password@host:port/name).
# The password is moved into PGPASSWORD so it never appears on a command line, where
# other users of the machine could read it in the process list; the rest of the URL
# is handed to libpq as is (percent-encoded parts, Unix socket hosts and query
# parameters such as sslmode included).

die() {
    printf '%s: %s\n' "$(basename "$0")" "$*" >&2
    exit 2
}

log() {
    printf '[%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"
}

percent_decode() {
    local value=${1//\\/\\\\}
    printf '%b' "${value//%/\\x}"
}

# Sets DB_URL (DATABASE_URL without its password) and exports PGPASSWORD if it had one.
# shellcheck disable=SC2034  # DB_URL is read by the scripts that source this file
read_database_url() {
    [[ -n ${DATABASE_URL:-} ]] || die "DATABASE_URL must be set (postgres://user:password@host:port/name)"
    local pattern='^(postgres|postgresql)://([^:@/]*):([^@/]*)@(.*)$'
    case $DATABASE_URL in
        postgres://* | postgresql://*) ;;
        *) die "DATABASE_URL must start with postgres:// or postgresql://" ;;
    esac
    if [[ $DATABASE_URL =~ $pattern ]]; then
        PGPASSWORD=$(percent_decode "${BASH_REMATCH[3]}")
        export PGPASSWORD
        DB_URL="${BASH_REMATCH[1]}://${BASH_REMATCH[2]}@${BASH_REMATCH[4]}"
    else
        DB_URL=$DATABASE_URL
    fi
}

require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 \
            || die "$tool not found: install the PostgreSQL client of the server's major version"
    done
}
