#!/usr/bin/env bash
# Backs up Crucible's storage: the PostgreSQL database, then the file blob store.
#   scripts/backup.sh DEST_DIR
# Reads CRUCIBLE_DATABASE_URL and CRUCIBLE_DATA_DIR as the storage service does;
# docs/operations.md has the whole recipe (and S3 blobs).
#
# The database goes first: a blob is written before the row that refers to it
# commits, so every row in the dump finds its blob in the archive made after.
set -euo pipefail
dest=${1:?usage: scripts/backup.sh DEST_DIR}
url=${CRUCIBLE_DATABASE_URL:?set CRUCIBLE_DATABASE_URL (postgresql+psycopg://...)}
data_dir=${CRUCIBLE_DATA_DIR:-.crucible/storage}

mkdir -p "$dest"
pg_dump --format=custom --no-owner --file "$dest/database.dump" "${url/postgresql+psycopg:/postgresql:}"
blobs=
if [ -d "$data_dir" ]; then
  tar -C "$data_dir" --exclude=./.lock -czf "$dest/blobs.tar.gz" .
  blobs=" and $dest/blobs.tar.gz"
fi
echo "backup: $dest/database.dump$blobs"
