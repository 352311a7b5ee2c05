#!/usr/bin/env bash
# Builds the researcher's web app into frontend/dist (served at /researcher/).
#
#   scripts/build-frontend.sh           install the npm packages if need be, then build
#   scripts/build-frontend.sh --force   build even when nothing changed
#
# Idempotent and quick when nothing changed: `npm ci` runs only when
# package-lock.json differs from what node_modules was installed from, and the
# build only when its inputs changed. The inputs include the API's Python
# sources, because the page's types are generated from the API's OpenAPI
# document: a change of contract rebuilds, and breaks the build if the page
# no longer fits it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FRONTEND=$ROOT/frontend
FORCE=${1:-}

say() { printf '%s\n' "$*"; }
die() { printf 'build-frontend: %s\n' "$*" >&2; exit 1; }

node_fits() {
  command -v node >/dev/null && command -v npm >/dev/null || return 1
  # Vite 6 and Vitest 3 need Node 18 or later.
  [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 18 ]
}

if ! node_fits; then
  if [ "$(id -u)" = 0 ] && [ -z "${CRUCIBLE_NO_INSTALL:-}" ]; then
    say "Installing nodejs and npm from Debian's packages..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  node_fits || die "Node.js 18 or later and npm are needed (apt-get install nodejs npm)"
fi

# The uv that start-platform.sh and run-tests.sh install, for the OpenAPI dump.
export PATH=$HOME/.local/bin:$PATH

cd "$FRONTEND"
installed=node_modules/.crucible-lock-sha256
lock=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$installed" ] || [ "$(cat "$installed")" != "$lock" ]; then
  say "Installing the web app's npm packages (npm ci)..."
  npm ci --no-audit --no-fund --loglevel=error
  printf '%s\n' "$lock" >"$installed"
fi

# Names and contents of every file in the given `find` arguments, as one hash.
tree_hash() { find "$@" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1; }
page=$(tree_hash index.html package-lock.json tsconfig.json vite.config.ts scripts src \
  ! -path src/api/openapi.json ! -path src/api/schema.d.ts ! -path src/api/contract.ts)
api=$(cd "$ROOT" && tree_hash api-service/src shared/src uv.lock \( -name '*.py' -o -name '*.lua' -o -name uv.lock \))
sources="$page $api"
stamp=dist/.crucible-build-sha256
if [ "$FORCE" != --force ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sources" ]; then
  say "The web app is up to date in frontend/dist."
  exit 0
fi
say "Building the web app into frontend/dist..."
npm run --silent build
printf '%s\n' "$sources" >"$stamp"
