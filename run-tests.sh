#!/usr/bin/env bash
# Installs what the tests need, then runs the whole suite with pytest.
# Arguments go to pytest: ./run-tests.sh tests/executor -k timeout
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"

# Servers and tools the tests start for real; the tests run their own
# instances on free ports, never ones already running here.
packages=()
command -v redis-server >/dev/null || packages+=(redis-server)
command -v bwrap >/dev/null || packages+=(bubblewrap)
command -v curl >/dev/null || packages+=(curl)
# The multi-host tests' network namespaces (tests/support/hosts.py).
command -v ip >/dev/null || packages+=(iproute2)
command -v nginx >/dev/null || packages+=(nginx-light)
command -v openssl >/dev/null || packages+=(openssl)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || packages+=(postgresql)
# The web app's build and component tests, and the browser tests' Chromium.
command -v npm >/dev/null || packages+=(nodejs npm)
[ -x /usr/bin/chromium ] || packages+=(chromium)
if [ ${#packages[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "run-tests: missing ${packages[*]}; install them or run as root" >&2; exit 1; }
  echo "Installing ${packages[*]} from Debian's packages..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi

if ! command -v uv >/dev/null; then
  echo "Installing uv from PyPI..."
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  export PATH=$HOME/.local/bin:$PATH
fi
uv sync --frozen --quiet

# The web app in frontend/dist, which the browser tests load from the front
# door; nothing is done when nothing changed.
scripts/build-frontend.sh

# The docker sandbox backend's tests and the Compose smoke test need a Docker
# Engine API and the images: Podman is installed and started where none answers.
echo "Preparing the container engine and images (scripts/container-engine.sh)..."
scripts/container-engine.sh service-images >/dev/null

exec uv run --frozen pytest "$@"
