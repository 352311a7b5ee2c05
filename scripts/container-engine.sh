#!/usr/bin/env bash
# A Docker Engine API for Crucible, and the images it runs.
#
#   scripts/container-engine.sh host        print the DOCKER_HOST of an engine that answers (or fail)
#   scripts/container-engine.sh engine      make one answer: Docker if it does, else Podman
#                                           (installed and started when allowed: root)
#   scripts/container-engine.sh executor-images   engine + the sandbox images, built when missing
#   scripts/container-engine.sh service-images    engine + every image of docker-compose.yml
#   scripts/container-engine.sh compose-tool    make sure a Compose answers (Debian's docker-compose)
#   scripts/container-engine.sh stop        stop the Podman service this script started
#
# Idempotent: an image whose sources have not changed (a digest kept as its
# label) is left alone, so a second call takes a few seconds.
# Set CRUCIBLE_REBUILD=1 to rebuild images that exist, CRUCIBLE_NO_INSTALL=1
# to never install Debian packages.
#
# Where no registry can be reached (this project's machines), Podman serves the
# API on $PODMAN_SOCKET and the images are built on a base made from Debian's
# own packages (debootstrap), passed to every Dockerfile as CRUCIBLE_BASE_IMAGE.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PODMAN_DIR=${CRUCIBLE_PODMAN_DIR:-/run/crucible}
PODMAN_SOCKET=$PODMAN_DIR/podman.sock
PODMAN_PID=$PODMAN_DIR/podman.pid
PODMAN_LOG=$PODMAN_DIR/podman.log
LOCAL_BASE=crucible/python-base:bookworm
HOST_CA=/etc/ssl/certs/ca-certificates.crt
BUILD_CACHE=${CRUCIBLE_BUILD_CACHE:-/var/cache/crucible-build}

say() { printf 'container-engine: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
may_install() { [ "$(id -u)" = 0 ] && [ -z "${CRUCIBLE_NO_INSTALL:-}" ]; }

# --- which engine ---------------------------------------------------------------

# An engine answers when its /_ping says OK.
pings() {
  case $1 in
    unix://*) [ -S "${1#unix://}" ] && [ "$(curl -fsS -m 5 --unix-socket "${1#unix://}" http://d/_ping 2>/dev/null)" = OK ] ;;
    tcp://*) [ "$(curl -fsS -m 5 "http://${1#tcp://}/_ping" 2>/dev/null)" = OK ] ;;
    *) return 1 ;;
  esac
}

# DOCKER_HOST if set, else Docker's own socket, else ours.
answering_host() {
  local candidate
  for candidate in ${DOCKER_HOST:-} unix:///var/run/docker.sock "unix://$PODMAN_SOCKET"; do
    if pings "$candidate"; then printf '%s\n' "$candidate"; return 0; fi
  done
  return 1
}

is_our_podman() { [ "$1" = "unix://$PODMAN_SOCKET" ]; }

ensure_packages() {
  local missing=() tool
  for tool in "$@"; do
    case $tool in
      podman) command -v podman >/dev/null || missing+=(podman) ;;
      runc) command -v runc >/dev/null || missing+=(runc) ;;
      catatonit) command -v catatonit >/dev/null || missing+=(catatonit) ;;
      debootstrap) command -v debootstrap >/dev/null || missing+=(debootstrap) ;;
      docker-compose) command -v docker-compose >/dev/null || missing+=(docker-compose) ;;
      curl) command -v curl >/dev/null || missing+=(curl) ;;
    esac
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  may_install || die "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root"
  say "installing ${missing[*]} from Debian's packages..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# crun fails on this kind of host (cgroups in hybrid mode) and Podman's default
# ulimits are above its hard limits: runc, and ulimits the host allows.
configure_podman() {
  local conf=/etc/containers/containers.conf
  grep -qs '^# crucible' "$conf" && return 0
  [ -e "$conf" ] && ! grep -qs '^# crucible' "$conf" && cp "$conf" "$conf.before-crucible"
  mkdir -p /etc/containers
  local nofile nproc
  nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] || [ "$nofile" -ge 1024 ] && nofile=1024
  nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] || [ "$nproc" -ge 4096 ] && nproc=4096
  cat >"$conf" <<EOF
# crucible: written by scripts/container-engine.sh
[engine]
runtime = "runc"
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
EOF
}

start_podman() {
  mkdir -p "$PODMAN_DIR"
  if [ -f "$PODMAN_PID" ] && kill -0 "$(cat "$PODMAN_PID")" 2>/dev/null; then
    say "podman service (pid $(cat "$PODMAN_PID")) runs but does not answer; restarting it"
    kill "$(cat "$PODMAN_PID")" 2>/dev/null || true
    sleep 1
  fi
  rm -f "$PODMAN_SOCKET"
  say "starting podman system service on unix://$PODMAN_SOCKET (log $PODMAN_LOG)"
  # In its own directory: conmon 2.1 drops an `oom` file into its working directory.
  (cd "$PODMAN_DIR" && exec setsid podman system service --time=0 "unix://$PODMAN_SOCKET" >>"$PODMAN_LOG" 2>&1 </dev/null) &
  echo $! >"$PODMAN_PID"
  local _
  for _ in $(seq 1 100); do
    pings "unix://$PODMAN_SOCKET" && return 0
    sleep 0.1
  done
  die "podman did not answer on $PODMAN_SOCKET; see $PODMAN_LOG"
}

# Podman runs HEALTHCHECKs from systemd timers; where there is no systemd
# (containers, CI) nothing runs them and Compose's `service_healthy` never
# comes. This loop stands in: every container with a health check is checked
# every 2 s until healthy, then every 30 s.
HEALTH_PID=$PODMAN_DIR/health-checks.pid

cmd_health_checks() {
  local -A next=()
  local now id health
  while pings "unix://$PODMAN_SOCKET"; do
    now=$(date +%s)
    while read -r id health; do
      case $health in starting|healthy|unhealthy) ;; *) continue ;; esac
      [ "${next[$id]:-0}" -le "$now" ] || continue
      podman healthcheck run "$id" >/dev/null 2>&1 &
      if [ "$health" = healthy ]; then next[$id]=$((now + 30)); else next[$id]=$((now + 2)); fi
    done < <(podman ps -q | xargs -r podman inspect --format '{{.Id}} {{.State.Health.Status}}' 2>/dev/null)
    wait
    sleep 2
  done
}

ensure_health_checks() {
  [ -f "$HEALTH_PID" ] && kill -0 "$(cat "$HEALTH_PID")" 2>/dev/null && return 0
  (cd "$PODMAN_DIR" && exec setsid "$ROOT/scripts/container-engine.sh" health-checks >>"$PODMAN_DIR/health-checks.log" 2>&1 </dev/null) &
  echo $! >"$HEALTH_PID"
}

cmd_engine() {
  local host
  ensure_packages curl
  if host=$(answering_host); then
    if is_our_podman "$host"; then ensure_health_checks; fi
    printf '%s\n' "$host"
    return 0
  fi
  [ -n "${DOCKER_HOST:-}" ] && say "DOCKER_HOST=$DOCKER_HOST does not answer; using Podman instead"
  ensure_packages podman runc catatonit
  may_install && configure_podman
  start_podman
  ensure_health_checks
  printf 'unix://%s\n' "$PODMAN_SOCKET"
}

cmd_stop() {
  if [ -f "$HEALTH_PID" ] && kill -0 "$(cat "$HEALTH_PID")" 2>/dev/null; then
    kill "$(cat "$HEALTH_PID")"
  fi
  rm -f "$HEALTH_PID"
  if [ -f "$PODMAN_PID" ] && kill -0 "$(cat "$PODMAN_PID")" 2>/dev/null; then
    kill "$(cat "$PODMAN_PID")"
    say "podman service stopped"
  fi
  rm -f "$PODMAN_PID"
}

# --- images ---------------------------------------------------------------------

image_exists() { DOCKER_HOST=$HOST docker_api_get "/images/$1/json" >/dev/null 2>&1; }

docker_api_get() {
  case $DOCKER_HOST in
    unix://*) curl -fsS -m 10 --unix-socket "${DOCKER_HOST#unix://}" "http://d$1" ;;
    tcp://*) curl -fsS -m 10 "http://${DOCKER_HOST#tcp://}$1" ;;
  esac
}

# The base every Dockerfile builds FROM: the official image where a registry
# answers, a Debian rootfs of our own on our Podman.
base_image() {
  if [ -n "${CRUCIBLE_BASE_IMAGE:-}" ]; then printf '%s\n' "$CRUCIBLE_BASE_IMAGE"; return; fi
  if is_our_podman "$HOST"; then printf '%s\n' "$LOCAL_BASE"; else printf 'python:3.11-slim\n'; fi
}

ensure_local_base() {
  [ "$BASE" = "$LOCAL_BASE" ] || return 0
  image_exists "$LOCAL_BASE" && [ -z "${CRUCIBLE_REBUILD:-}" ] && return 0
  ensure_packages debootstrap
  local rootfs started=$SECONDS
  rootfs=$(mktemp -d /var/tmp/crucible-rootfs.XXXXXX)
  say "building $LOCAL_BASE from Debian's packages (debootstrap, about a minute)..."
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" http://deb.debian.org/debian >"$rootfs.log" 2>&1 ||
    die "debootstrap failed; see $rootfs.log"
  # apt inside builds (the socket proxy's haproxy) needs the security mirror too.
  printf 'deb http://deb.debian.org/debian bookworm main\ndeb http://deb.debian.org/debian bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
    >"$rootfs/etc/apt/sources.list"
  rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*
  tar -C "$rootfs" -c . | podman import -q - "$LOCAL_BASE" >/dev/null
  rm -rf "$rootfs" "$rootfs.log"
  say "built $LOCAL_BASE in $((SECONDS - started)) s"
}

# A digest of what an image is built from (the files, the base), kept as a
# label on it: an image whose sources changed is built again.
source_digest() {
  { printf '%s %s\n' "$BASE" "${BUILD_ARG:-}"
    find "$@" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-16
}

image_source() {
  DOCKER_HOST=$HOST docker_api_get "/images/$1/json" 2>/dev/null |
    python3 -c 'import json, sys; print((json.load(sys.stdin)["Config"].get("Labels") or {}).get("crucible.source", ""))' 2>/dev/null
}

# build NAME DOCKERFILE CONTEXT [SOURCES...]: builds when missing, when its
# sources changed, or with CRUCIBLE_REBUILD. BUILD_ARG=NAME=VALUE adds one
# build argument.
build() {
  local name=$1 dockerfile=$2 context=$3 started=$SECONDS
  shift 3
  local digest
  digest=$(source_digest "$dockerfile" "$@")
  if [ -z "${CRUCIBLE_REBUILD:-}" ] && [ "$(image_source "$name")" = "$digest" ]; then return 0; fi
  say "building $name ($dockerfile)..."
  local log=$BUILD_CACHE/logs/${name//\//_}.log
  mkdir -p "$BUILD_CACHE/logs"
  local args=(build -t "$name" -f "$dockerfile" --build-arg "CRUCIBLE_BASE_IMAGE=$BASE" --label "crucible.source=$digest")
  [ -n "${BUILD_ARG:-}" ] && args+=(--build-arg "$BUILD_ARG")
  if is_our_podman "$HOST"; then
    # The docker format keeps HEALTHCHECK (the OCI format drops it).
    args+=(--format docker)
    # Builds reach PyPI and Debian through the host's network; the host's CA
    # bundle (outbound HTTPS is re-signed here) is mounted, never copied in.
    args+=(--network host)
    [ -f "$HOST_CA" ] && args+=(-v "$HOST_CA:/etc/ssl/certs/ca-certificates.crt:ro")
    # One download cache for every image's `uv sync` (never part of an image).
    mkdir -p "$BUILD_CACHE/uv"
    args+=(-v "$BUILD_CACHE/uv:/root/.cache/uv" --env UV_CACHE_DIR=/root/.cache/uv)
    podman "${args[@]}" "$context" >"$log" 2>&1 || { tail -n 30 "$log" >&2; die "building $name failed; see $log"; }
  else
    DOCKER_HOST=$HOST docker "${args[@]}" "$context" >"$log" 2>&1 || { tail -n 30 "$log" >&2; die "building $name failed; see $log"; }
  fi
  say "built $name in $((SECONDS - started)) s"
}

cmd_executor_images() {
  HOST=$(cmd_engine)
  BASE=$(base_image)
  ensure_local_base
  local images=$ROOT/executor-service/images
  build crucible/executor-python:latest "$images/python/Dockerfile" "$images/python" "$images/python"
  build crucible/executor-ml:latest "$images/ml/Dockerfile" "$images/ml" "$images/ml"
  printf '%s\n' "$HOST"
}

cmd_service_images() {
  cmd_executor_images >/dev/null
  local service
  # One Dockerfile for the four Python services, the service as its build argument.
  for service in api-service storage-service celery-worker executor-service; do
    BUILD_ARG="CRUCIBLE_SERVICE=$service" build "crucible/$service:latest" "$ROOT/deploy/python-service/Dockerfile" "$ROOT" \
      "$ROOT/deploy/python-service" "$ROOT/pyproject.toml" "$ROOT/uv.lock" "$ROOT/.dockerignore" \
      "$ROOT/shared" "$ROOT/$service/src" "$ROOT"/*/pyproject.toml
  done
  local deploy=$ROOT/deploy
  build crucible/docker-socket-proxy:latest "$deploy/docker-socket-proxy/Dockerfile" "$deploy/docker-socket-proxy" "$deploy/docker-socket-proxy"
  # The front door, with the web app as last built (frontend/dist, when there is one).
  local web=()
  [ -d "$ROOT/frontend/dist" ] && web=("$ROOT/frontend/dist")
  build crucible/nginx:latest "$ROOT/nginx/Dockerfile" "$ROOT" "$ROOT/nginx" "$ROOT/.dockerignore" "${web[@]}"
  if is_our_podman "$HOST"; then
    # Stand-ins for the third-party images no registry can give us here: the
    # same servers, from Debian's packages (deploy/debian-images/).
    build crucible/redis:debian "$deploy/debian-images/redis/Dockerfile" "$deploy/debian-images/redis" "$deploy/debian-images/redis"
    build crucible/postgres:debian "$deploy/debian-images/postgres/Dockerfile" "$deploy/debian-images/postgres" "$deploy/debian-images/postgres"
  fi
  printf '%s\n' "$HOST"
}

command=${1:-}
case $command in
  host) answering_host || die "no Docker Engine API answers (try: $0 engine)" ;;
  engine) cmd_engine ;;
  executor-images) cmd_executor_images ;;
  service-images) cmd_service_images ;;
  compose-tool) ensure_packages docker-compose ;;
  health-checks) cmd_health_checks ;;
  stop) cmd_stop ;;
  *) sed -n '2,18p' "$0" >&2; exit 2 ;;
esac
