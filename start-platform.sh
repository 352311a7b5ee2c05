#!/usr/bin/env bash
# Brings Crucible up, or stops it, or says what runs.
#
#   ./start-platform.sh [start] [--local]   start (the default)
#   ./start-platform.sh stop                stop what this script started
#   ./start-platform.sh status              show what runs
#
# Local mode runs every service as a process of this machine, each in its own
# process group, with one pid file per service in $CRUCIBLE_STATE_DIR/run and
# one log per service in $CRUCIBLE_STATE_DIR/logs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE_DIR=${CRUCIBLE_STATE_DIR:-$ROOT/.crucible}
RUN_DIR=$STATE_DIR/run
LOG_DIR=$STATE_DIR/logs
VENV=$ROOT/.venv

PORT=${CRUCIBLE_PORT:-8080}
BIND=${CRUCIBLE_BIND:-127.0.0.1}
STORAGE_PORT=${CRUCIBLE_STORAGE_PORT:-8001}
EXECUTOR_PORT=${CRUCIBLE_EXECUTOR_PORT:-8002}
REDIS_PORT=${CRUCIBLE_REDIS_PORT:-6380}
WORKER_CONCURRENCY=${CRUCIBLE_WORKER_CONCURRENCY:-2}
READY_TIMEOUT=${CRUCIBLE_READY_TIMEOUT:-60}

# Started in this order, stopped in the reverse.
SERVICES=(redis storage-service executor-service celery-worker api-service)

say() { printf '%s\n' "$*"; }
die() { printf 'start-platform: %s\n' "$*" >&2; exit 1; }

# --- installing what is missing -------------------------------------------

may_install() { [ "$(id -u)" = 0 ] && [ -z "${CRUCIBLE_NO_INSTALL:-}" ]; }

ensure_debian_packages() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v bwrap >/dev/null || missing+=(bubblewrap)
  command -v curl >/dev/null || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] && return
  may_install || die "missing ${missing[*]}: install them (apt-get install ${missing[*]}), or run as root"
  say "Installing ${missing[*]} from Debian's packages..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_uv() {
  command -v uv >/dev/null && return
  [ -x "$HOME/.local/bin/uv" ] && { PATH=$HOME/.local/bin:$PATH; return; }
  say "Installing uv from PyPI..."
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  PATH=$HOME/.local/bin:$PATH
  command -v uv >/dev/null || die "uv could not be installed"
}

ensure_workspace() {
  ensure_uv
  (cd "$ROOT" && uv sync --frozen --quiet) || die "uv sync failed"
}

# --- processes ----------------------------------------------------------------

pid_file() { printf '%s/%s.pid' "$RUN_DIR" "$1"; }

# The pid file's process is alive and is still ours: its command line names
# the service (a recycled pid would not, nor would a zombie left unreaped by
# an init that does not reap).
running_pid() {
  local file pid
  file=$(pid_file "$1")
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$(service_marker "$1")" || return 1
  printf '%s' "$pid"
}

service_marker() {
  case $1 in
    redis) printf 'redis-server' ;;
    storage-service) printf 'crucible_storage' ;;
    executor-service) printf 'crucible_executor' ;;
    celery-worker) printf 'crucible_worker' ;;
    api-service) printf 'crucible_api' ;;
  esac
}

service_port() {
  case $1 in
    redis) printf '%s' "$REDIS_PORT" ;;
    storage-service) printf '%s' "$STORAGE_PORT" ;;
    executor-service) printf '%s' "$EXECUTOR_PORT" ;;
    api-service) printf '%s' "$PORT" ;;
    *) printf '' ;;
  esac
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

service_command() {
  local uvicorn=("$VENV/bin/uvicorn" --factory --no-access-log)
  case $1 in
    redis)
      mkdir -p "$STATE_DIR/redis"
      # Append-only persistence: queued evaluations survive a Redis restart.
      printf '%s\0' redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$STATE_DIR/redis" \
        --appendonly yes --save "" --daemonize no ;;
    storage-service)
      printf '%s\0' "${uvicorn[@]}" crucible_storage.app:create_app --host 127.0.0.1 --port "$STORAGE_PORT" ;;
    executor-service)
      printf '%s\0' "${uvicorn[@]}" crucible_executor.app:create_app --host 127.0.0.1 --port "$EXECUTOR_PORT" ;;
    celery-worker)
      printf '%s\0' "$VENV/bin/celery" -A crucible_worker.celery_app.app worker --queues high,normal,low \
        --concurrency "$WORKER_CONCURRENCY" --hostname "worker-$$@%h" --loglevel INFO ;;
    api-service)
      printf '%s\0' "${uvicorn[@]}" crucible_api.app:create_app --host "$BIND" --port "$PORT" ;;
  esac
}

start_service() {
  local name=$1 pid port cmd=()
  if pid=$(running_pid "$name"); then
    say "  $name already runs (pid $pid)"
    return
  fi
  port=$(service_port "$name")
  if [ -n "$port" ] && port_busy "$port"; then
    die "port $port, wanted by $name, is taken by another program; free it or choose another port (see README, Configuration)"
  fi
  while IFS= read -r -d '' part; do cmd+=("$part"); done < <(service_command "$name")
  # setsid: each service leads its own process group, so that stop reaches
  # its children (Celery's pool, uvicorn's reloader) and nothing else.
  setsid "${cmd[@]}" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$(pid_file "$name")"
  say "  $name started (pid $!, log $LOG_DIR/$name.log)"
}

stop_service() {
  local name=$1 pid
  pid=$(running_pid "$name") || { rm -f "$(pid_file "$name")"; return; }
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    running_pid "$name" >/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$(pid_file "$name")"
  say "  $name stopped"
}

wait_ready() {
  local url=http://127.0.0.1:$PORT/ready deadline=$((SECONDS + READY_TIMEOUT))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || die "the API was not ready after ${READY_TIMEOUT}s; see $LOG_DIR/"
    for name in "${SERVICES[@]}"; do
      running_pid "$name" >/dev/null || die "$name died while starting; see $LOG_DIR/$name.log"
    done
    sleep 0.2
  done
}

# --- commands -----------------------------------------------------------------

docker_engine_answers() {
  command -v docker >/dev/null && timeout 5 docker info >/dev/null 2>&1
}

start_local() {
  ensure_debian_packages
  ensure_workspace
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  export CRUCIBLE_BROKER_URL=${CRUCIBLE_BROKER_URL:-redis://127.0.0.1:$REDIS_PORT/0}
  export CRUCIBLE_STORAGE_URL=http://127.0.0.1:$STORAGE_PORT
  export CRUCIBLE_EXECUTOR_URL=http://127.0.0.1:$EXECUTOR_PORT
  export CRUCIBLE_DATABASE_URL=${CRUCIBLE_DATABASE_URL:-sqlite:///$STATE_DIR/crucible.db}
  say "Starting Crucible as local processes (state in $STATE_DIR):"
  for name in "${SERVICES[@]}"; do start_service "$name"; done
  wait_ready
  say ""
  say "Crucible is ready at http://localhost:$PORT"
  say "  API docs:   http://localhost:$PORT/api/docs"
  say "  Stop it:    ./start-platform.sh stop"
}

start() {
  local mode=auto
  for arg in "$@"; do
    case $arg in
      --local) mode=local ;;
      *) die "unknown option $arg (try --local)" ;;
    esac
  done
  if [ "$mode" = auto ] && docker_engine_answers; then
    say "A Docker engine answers, but Compose mode is not built yet: running as local processes."
  fi
  start_local
}

stop() {
  say "Stopping Crucible:"
  local i
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do stop_service "${SERVICES[$i]}"; done
}

status() {
  local name pid any=1
  for name in "${SERVICES[@]}"; do
    if pid=$(running_pid "$name"); then
      printf '  %-17s running  pid %-7s %s\n' "$name" "$pid" "$(service_port "$name")"
      any=0
    else
      printf '  %-17s stopped\n' "$name"
    fi
  done
  return $any
}

command=${1:-start}
case $command in
  start) shift || true; start "$@" ;;
  --local) start "$@" ;;
  stop) stop ;;
  status) status ;;
  -h|--help|help) sed -n '2,10p' "$0" ;;
  *) die "unknown command $command (start, stop or status)" ;;
esac
