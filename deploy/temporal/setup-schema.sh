#!/bin/sh
# One-shot: creates (or upgrades) Temporal's two PostgreSQL databases. Safe to run again on every start.
set -eu
tool() { temporal-sql-tool --plugin postgres12 --ep temporal-db -u temporal -p 5432 "$@"; }
schema=/etc/temporal/schema/postgresql/v12
for db in temporal temporal_visibility; do
  tool --db "$db" create || true  # exists already on a restart
  tool --db "$db" setup-schema -v 0.0 || true
done
tool --db temporal update-schema -d "$schema/temporal/versioned"
tool --db temporal_visibility update-schema -d "$schema/visibility/versioned"
echo "Temporal schema is up to date"
