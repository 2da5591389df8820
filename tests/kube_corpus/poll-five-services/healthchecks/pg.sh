#!/bin/sh
# healthy when PostgreSQL answers a query, not only a connection
set -eu
role="${POSTGRES_USER:?}"
answer="$(psql -h 127.0.0.1 -U "$role" -d "${POSTGRES_DB:-$role}" -tAc 'SELECT 1')"
[ "$answer" = "1" ]
