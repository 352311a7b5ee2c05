#!/usr/bin/env bash
# Restores a backup made by scripts/backup.sh; stop the storage service first.
#   scripts/restore.sh SOURCE_DIR
# The database's tables are replaced; blobs are unpacked over CRUCIBLE_DATA_DIR.
set -euo pipefail
src=${1:?usage: scripts/restore.sh SOURCE_DIR}
url=${CRUCIBLE_DATABASE_URL:?set CRUCIBLE_DATABASE_URL (postgresql+psycopg://...)}
data_dir=${CRUCIBLE_DATA_DIR:-.crucible/storage}

pg_restore --clean --if-exists --no-owner --exit-on-error \
  --dbname "${url/postgresql+psycopg:/postgresql:}" "$src/database.dump"
if [ -f "$src/blobs.tar.gz" ]; then
  mkdir -p "$data_dir"
  tar -C "$data_dir" -xzf "$src/blobs.tar.gz"
fi
echo "restored from $src"
