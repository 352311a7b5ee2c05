#!/usr/bin/env bash
# Brings Crucible up, or stops it, or says what runs.
#
#   ./start-platform.sh [start] [--local | --compose [--prod]]   start (the default)
#   ./start-platform.sh stop [--volumes]    stop what this script started (--volumes: and
#                                           delete Compose mode's volumes, the database too)
#   ./start-platform.sh status              show what runs
#   ./start-platform.sh logs [service]      the last lines of the logs
#   ./start-platform.sh keys create --role researcher --name alice
#                                           API keys (also `keys list`, `keys revoke ID`);
#                                           the first start makes an admin key, kept in
#                                           $CRUCIBLE_STATE_DIR/credentials
#
# Local mode runs every service as a process of this machine, each in its own
# process group, with one pid file per service in $CRUCIBLE_STATE_DIR/run and
# one log per service in $CRUCIBLE_STATE_DIR/logs. Debian's nginx is the front
# door, with the Compose image's configuration (nginx/); --prod serves HTTPS
# only, with a real certificate. CRUCIBLE_EXECUTOR_BACKEND=docker
# runs its sandboxes as containers (scripts/container-engine.sh provides the engine).
#
# Compose mode (where a Docker engine answers, or with --compose: Podman is
# then installed and started if need be) builds the images and brings up
# docker-compose.yml (--prod adds docker-compose.prod.yml); see docs/deployment.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Absolute, so that what start writes (nginx's command line) is what stop and status look for.
STATE_DIR=$(realpath -m "${CRUCIBLE_STATE_DIR:-$ROOT/.crucible}")
RUN_DIR=$STATE_DIR/run
LOG_DIR=$STATE_DIR/logs
WORKER_METRICS_DIR=$STATE_DIR/worker-metrics
VENV=$ROOT/.venv

say() { printf '%s\n' "$*"; }
die() { printf 'start-platform: %s\n' "$*" >&2; exit 1; }

# Every port follows CRUCIBLE_PORT, the front door's: each is its default
# moved by as much as CRUCIBLE_PORT is moved from 8080, so that one variable
# puts a second checkout beside a first (CRUCIBLE_PORT=9080: 9443, 9000...).
# Each may still be set alone. The variables and their defaults at 8080:
PORT_VARIABLES=(CRUCIBLE_PORT CRUCIBLE_TLS_PORT CRUCIBLE_API_PORT CRUCIBLE_STORAGE_PORT
  CRUCIBLE_EXECUTOR_PORT CRUCIBLE_REDIS_PORT CRUCIBLE_FLOWER_PORT CRUCIBLE_WORKER_METRICS_PORT)
PORT_DEFAULTS=(8080 8443 8000 8001 8002 6380 5555 9808)
BASE_PORT=8080
# The ones set by the caller, before this script exports any; CRUCIBLE_PORT
# is the base the others derive from, so never "set" among them.
declare -A PORTS_SET
for variable in "${PORT_VARIABLES[@]:1}"; do PORTS_SET[$variable]=${!variable:-}; done
PORTS_SET[CRUCIBLE_PORT]=

PORT=${CRUCIBLE_PORT:-$BASE_PORT}
[[ $PORT =~ ^[0-9]{1,5}$ ]] || die "CRUCIBLE_PORT must be a port number, not '$PORT'"

# $1: a port variable; prints its port, set or derived from $2, the CRUCIBLE_PORT to derive from.
port_for() {
  local i value
  for i in "${!PORT_VARIABLES[@]}"; do
    [ "${PORT_VARIABLES[$i]}" = "$1" ] || continue
    value=${PORTS_SET[$1]:-$((PORT_DEFAULTS[i] + ${2:-$PORT} - BASE_PORT))}
    printf '%s' "$value"
  done
}

LOWEST_BASE=$((BASE_PORT + 1 - $(printf '%s\n' "${PORT_DEFAULTS[@]}" | sort -n | head -1)))
HIGHEST_BASE=$((BASE_PORT + 65535 - $(printf '%s\n' "${PORT_DEFAULTS[@]}" | sort -n | tail -1)))

# Before anything starts: a port out of range names the variable to change.
check_ports() {
  local variable value
  for variable in "${PORT_VARIABLES[@]}"; do
    value=$(port_for "$variable")
    [[ $value =~ ^[0-9]{1,5}$ ]] && [ "$value" -ge 1 ] && [ "$value" -le 65535 ] && continue
    [ -n "${PORTS_SET[$variable]}" ] && die "$variable must be a port number between 1 and 65535, not '$value'"
    die "CRUCIBLE_PORT=$PORT would put $variable at $value: choose a CRUCIBLE_PORT between $LOWEST_BASE and $HIGHEST_BASE"
  done
}
check_ports

TLS_PORT=$(port_for CRUCIBLE_TLS_PORT)
BIND=${CRUCIBLE_BIND:-127.0.0.1}
API_PORT=$(port_for CRUCIBLE_API_PORT)
STORAGE_PORT=$(port_for CRUCIBLE_STORAGE_PORT)
EXECUTOR_PORT=$(port_for CRUCIBLE_EXECUTOR_PORT)
REDIS_PORT=$(port_for CRUCIBLE_REDIS_PORT)
FLOWER_PORT=$(port_for CRUCIBLE_FLOWER_PORT)
CRUCIBLE_WORKER_METRICS_PORT=$(port_for CRUCIBLE_WORKER_METRICS_PORT)
export CRUCIBLE_WORKER_METRICS_PORT
WORKER_CONCURRENCY=${CRUCIBLE_WORKER_CONCURRENCY:-2}
READY_TIMEOUT=${CRUCIBLE_READY_TIMEOUT:-60}

# Started in this order, stopped in the reverse.
SERVICES=(redis storage-service executor-service celery-worker flower api-service nginx)

# --- installing what is missing -------------------------------------------

may_install() { [ "$(id -u)" = 0 ] && [ -z "${CRUCIBLE_NO_INSTALL:-}" ]; }

ensure_debian_packages() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v bwrap >/dev/null || missing+=(bubblewrap)
  command -v curl >/dev/null || missing+=(curl)
  command -v nginx >/dev/null || missing+=(nginx-light)
  command -v openssl >/dev/null || missing+=(openssl)
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

# Flower's basic-auth user:password, made once per state directory.
flower_credentials() {
  local file=$STATE_DIR/flower-credentials
  if [ ! -s "$file" ]; then
    (umask 077 && printf 'admin:%s\n' "$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')" >"$file")
  fi
  cat "$file"
}

# The secret the services present to storage and executors, made once per state directory.
service_token() {
  local file=$STATE_DIR/service-token
  if [ ! -s "$file" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$file")
  fi
  cat "$file"
}

CREDENTIALS=$STATE_DIR/credentials
NEW_ADMIN_KEY=

# The first start makes an admin key, shows it once, and keeps it in
# $CREDENTIALS (mode 600) for this checkout's scripts and tests; a key the
# platform no longer knows (its database was replaced) is replaced too.
# $1: how to run the `crucible` command; $2: the API's base URL.
ensure_admin_key() {
  local crucible=$1 api=$2 key=
  [ -s "$CREDENTIALS" ] && key=$(sed -n 's/^CRUCIBLE_API_KEY=//p' "$CREDENTIALS")
  if [ -n "$key" ] && [ "$(curl -ks -o /dev/null -w '%{http_code}' \
      -H "Authorization: Bearer $key" "$api/api/keys")" = 200 ]; then
    return 0
  fi
  key=$($crucible keys create --role admin --name first-admin --quiet) ||
    die "could not make the first admin key"
  (umask 077 && printf 'CRUCIBLE_API_KEY=%s\n' "$key" >"$CREDENTIALS")
  NEW_ADMIN_KEY=$key
}

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
    celery-worker) printf 'crucible_worker.celery_app.app worker' ;;
    flower) printf 'crucible_worker.celery_app.app flower' ;;
    api-service) printf 'crucible_api' ;;
    # The script's command line until it execs nginx, then the master's.
    nginx) printf '%s' "$NGINX_CONF_DIR" ;;
  esac
}

# The variables of the ports a service listens on.
service_port_variables() {
  case $1 in
    redis) printf '%s\n' CRUCIBLE_REDIS_PORT ;;
    storage-service) printf '%s\n' CRUCIBLE_STORAGE_PORT ;;
    executor-service) printf '%s\n' CRUCIBLE_EXECUTOR_PORT ;;
    celery-worker) printf '%s\n' CRUCIBLE_WORKER_METRICS_PORT ;;
    flower) printf '%s\n' CRUCIBLE_FLOWER_PORT ;;
    api-service) printf '%s\n' CRUCIBLE_API_PORT ;;
    nginx) printf '%s\n' CRUCIBLE_PORT CRUCIBLE_TLS_PORT ;;
  esac
}

service_ports() {
  local variable ports=()
  for variable in $(service_port_variables "$1"); do ports+=("$(port_for "$variable")"); done
  printf '%s' "${ports[*]}"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A CRUCIBLE_PORT (9080, 10080...) at which every port this checkout would use is free now.
free_base() {
  local base variable
  for base in $(seq $((PORT + 1000)) 1000 "$HIGHEST_BASE") $(seq $((PORT - 1000)) -1000 "$LOWEST_BASE"); do
    for variable in "${PORT_VARIABLES[@]}"; do
      port_busy "$(port_for "$variable" "$base")" && continue 2
    done
    printf '%s' "$base"
    return
  done
}

# Before anything starts: a port another program holds (another checkout's
# Crucible, most often) stops this start, and says which variable moves it.
check_ports_free() {
  local name variable port base
  for name in "${SERVICES[@]}"; do
    running_pid "$name" >/dev/null && continue
    for variable in $(service_port_variables "$name"); do
      port=$(port_for "$variable")
      port_busy "$port" || continue
      base=$(free_base)
      die "port $port ($variable), wanted by $name, is taken by another program (another checkout's Crucible?): to run beside it, set CRUCIBLE_PORT${base:+=$base}, which moves every port of this checkout${base:+ to ones free now}, or $variable alone (README, Ports)"
    done
  done
}

service_command() {
  local uvicorn=("$VENV/bin/uvicorn" --factory --no-access-log)
  case $1 in
    redis)
      mkdir -p "$STATE_DIR/redis"
      # Append-only, synced on every write: a queued evaluation survives even
      # a crash of Redis, not only a clean restart.
      printf '%s\0' redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$STATE_DIR/redis" \
        --appendonly yes --appendfsync always --save "" --daemonize no ;;
    storage-service)
      printf '%s\0' "${uvicorn[@]}" crucible_storage.app:create_app --host 127.0.0.1 --port "$STORAGE_PORT" ;;
    executor-service)
      printf '%s\0' "${uvicorn[@]}" crucible_executor.app:create_app --host 127.0.0.1 --port "$EXECUTOR_PORT" ;;
    celery-worker)
      # Prometheus' multiprocess mode for the worker's pool alone: anything else
      # that imports the metrics under it (the API, the web app's build) would
      # open its files there.
      printf '%s\0' env "PROMETHEUS_MULTIPROC_DIR=$WORKER_METRICS_DIR" \
        "$VENV/bin/celery" -A crucible_worker.celery_app.app worker --queues high,normal,low \
        --concurrency "$WORKER_CONCURRENCY" --hostname "worker-$$@%h" --loglevel INFO \
        --beat --schedule "$STATE_DIR/celerybeat-schedule" ;;
    flower)
      printf '%s\0' "$VENV/bin/celery" -A crucible_worker.celery_app.app flower --address=127.0.0.1 \
        --port="$FLOWER_PORT" --url_prefix=flower --basic_auth="$(flower_credentials)" ;;
    api-service)
      printf '%s\0' "${uvicorn[@]}" crucible_api.app:create_app --host 127.0.0.1 --port "$API_PORT" ;;
    nginx)
      printf '%s\0' "$ROOT/nginx/crucible-nginx.sh" run "$NGINX_CONF_DIR" ;;
  esac
}

start_service() {
  local name=$1 pid cmd=()
  if pid=$(running_pid "$name"); then
    say "  $name already runs (pid $pid)"
    return
  fi
  while IFS= read -r -d '' part; do cmd+=("$part"); done < <(service_command "$name")
  if [ "$name" = celery-worker ]; then
    # Prometheus' multiprocess mode wants an empty directory at every start.
    rm -rf "$WORKER_METRICS_DIR" && mkdir -p "$WORKER_METRICS_DIR"
  fi
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

# Ready means ready to run an evaluation: the API and its dependencies
# answer, a worker is online and an executor has a slot in the pool (asked of
# the API itself, not through the front door's rate limits), and the front
# door answers (anything: in production plain HTTP only redirects).
wait_ready() {
  local base=http://127.0.0.1:$API_PORT deadline=$((SECONDS + READY_TIMEOUT)) queue key=
  while true; do
    if curl -fsS -o /dev/null "$base/ready" 2>/dev/null; then
      # The queue overview, like every /api route, takes a key: the first one is made now.
      if [ -z "$key" ]; then
        ensure_admin_key "$VENV/bin/crucible-admin" "$base"
        key=$(sed -n 's/^CRUCIBLE_API_KEY=//p' "$CREDENTIALS")
      fi
      queue=$(curl -fsS -H "Authorization: Bearer $key" "$base/api/queue" 2>/dev/null || true)
      if grep -q '"workers_online":[1-9]' <<<"$queue" && grep -q '"slots_total":[1-9]' <<<"$queue" &&
        curl -sS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null; then
        return
      fi
    fi
    [ $SECONDS -lt $deadline ] || die "the platform was not ready after ${READY_TIMEOUT}s; see $LOG_DIR/"
    for name in "${SERVICES[@]}"; do
      running_pid "$name" >/dev/null || die "$name died while starting; see $LOG_DIR/$name.log"
    done
    sleep 0.2
  done
}

# --- the front door: nginx (nginx/) ---------------------------------------------

NGINX_CONF_DIR=$STATE_DIR/nginx/conf
FRONT_DOOR=$ROOT/nginx/crucible-nginx.sh
WEB_APP_DIR=${CRUCIBLE_WEB_APP_DIR:-$ROOT/frontend/dist}

# The web app (frontend/dist), built by its own script where there is one;
# one served from elsewhere (CRUCIBLE_WEB_APP_DIR) is left as it is.
build_web_app() {
  local script=$ROOT/scripts/build-frontend.sh log=$STATE_DIR/logs/web-app-build.log
  [ -x "$script" ] && [ -z "${CRUCIBLE_WEB_APP_DIR:-}" ] || return 0
  mkdir -p "$STATE_DIR/logs"
  say "Building the web app (scripts/build-frontend.sh, log $log)..."
  "$script" >>"$log" 2>&1 ||
    say "  the web app could not be built (see $log): /researcher answers 404 until it is"
}

# The certificate HTTPS serves: CRUCIBLE_TLS_CERT and CRUCIBLE_TLS_KEY, else a
# self-signed pair made once in $STATE_DIR/tls; production refuses the latter.
prepare_certificate() {
  local files
  files=$(CRUCIBLE_NGINX_SELF_SIGNED_DIR=$STATE_DIR/tls "$FRONT_DOOR" certificate) ||
    die "no certificate for HTTPS (see above)"
  TLS_CERT=$(realpath "$(sed -n 1p <<<"$files")")
  TLS_KEY=$(realpath "$(sed -n 2p <<<"$files")")
}

# Where local mode's nginx finds everything; nginx.conf names these.
configure_front_door() {
  prepare_certificate
  mkdir -p "$STATE_DIR/nginx/web"
  # The web root holds researcher/ so that /researcher/x is researcher/x.
  ln -sfn "$(realpath -m "$WEB_APP_DIR")" "$STATE_DIR/nginx/web/researcher"
  export CRUCIBLE_NGINX_HTTP_LISTEN=$BIND:$PORT CRUCIBLE_NGINX_HTTPS_LISTEN=$BIND:$TLS_PORT \
    CRUCIBLE_NGINX_API_UPSTREAM=127.0.0.1:$API_PORT CRUCIBLE_NGINX_FLOWER_UPSTREAM=127.0.0.1:$FLOWER_PORT \
    CRUCIBLE_NGINX_WEB_ROOT=$STATE_DIR/nginx/web CRUCIBLE_NGINX_RUN_DIR=$STATE_DIR/nginx/run \
    CRUCIBLE_NGINX_SELF_SIGNED_DIR=$STATE_DIR/tls CRUCIBLE_NGINX_USER="$(stat -c '%U %G' "$STATE_DIR")" \
    CRUCIBLE_TLS_PORT=$TLS_PORT CRUCIBLE_TLS_CERT=$TLS_CERT CRUCIBLE_TLS_KEY=$TLS_KEY
}

front_door_urls() {
  local base
  if [ -n "${CRUCIBLE_TLS_REQUIRED:-}" ]; then
    say "Crucible is ready at https://localhost:$TLS_PORT (http://localhost:$PORT redirects there)"
    base=https://localhost:$TLS_PORT
  else
    say "Crucible is ready at http://localhost:$PORT"
    say "  HTTPS:      https://localhost:$TLS_PORT (certificate $TLS_CERT)"
    base=http://localhost:$PORT
  fi
  say "  Web app:    $base/researcher/"
  if [ -n "$NEW_ADMIN_KEY" ]; then
    say "  Admin API key (shown this once; kept in $CREDENTIALS):"
    say "              $NEW_ADMIN_KEY"
    say "  Sign in:    $base/researcher/#key=$NEW_ADMIN_KEY"
  else
    say "  API key:    CRUCIBLE_API_KEY in $CREDENTIALS"
  fi
  say "  API docs:   $base/api/docs"
  say "  Flower:     $base/flower/ ($1)"
}

# --- the docker sandbox backend, and Compose mode -------------------------------

ENGINE_SCRIPT=$ROOT/scripts/container-engine.sh
COMPOSE_MARK=$STATE_DIR/compose-files
COMPOSE_ENV=$STATE_DIR/compose.env

# CRUCIBLE_EXECUTOR_BACKEND=docker: an engine that answers (Podman, installed
# and started when none does) with the sandbox images, at DOCKER_HOST.
prepare_docker_backend() {
  [ "${CRUCIBLE_EXECUTOR_BACKEND:-process}" = docker ] || return 0
  say "Preparing the docker sandbox backend (engine and images)..."
  DOCKER_HOST=$("$ENGINE_SCRIPT" executor-images) || die "no container engine for the docker backend"
  export DOCKER_HOST
  say "  sandboxes run as containers through DOCKER_HOST=$DOCKER_HOST"
}

compose_files() {
  printf '%s\n' -f "$ROOT/docker-compose.yml"
  [ "$1" = prod ] && printf '%s\n' -f "$ROOT/docker-compose.prod.yml"
  # Our own Podman cannot pull third-party images: stand-ins built from Debian.
  case $DOCKER_HOST in
    unix:///run/crucible/*) printf '%s\n' -f "$ROOT/deploy/debian-images/docker-compose.debian-images.yml" ;;
  esac
  return 0
}

# `docker compose` (v2) where the CLI has it, else docker-compose (1.29 on Debian 12).
compose() {
  local files=()
  mapfile -t files <"$COMPOSE_MARK"
  export DOCKER_HOST=${DOCKER_HOST:-$(sed -n 's/^# DOCKER_HOST=//p' "$COMPOSE_ENV")}
  if docker compose version >/dev/null 2>&1; then
    docker compose --project-name "$COMPOSE_PROJECT" --project-directory "$ROOT" \
      --env-file "$COMPOSE_ENV" "${files[@]}" "$@"
  else
    docker-compose --project-name "$COMPOSE_PROJECT" --project-directory "$ROOT" \
      --env-file "$COMPOSE_ENV" "${files[@]}" "$@"
  fi
}

COMPOSE_PROJECT=${CRUCIBLE_COMPOSE_PROJECT:-crucible}

# Secrets in an env file of the state directory, never in an image: made once,
# with random passwords.
write_compose_env() {
  if [ ! -f "$COMPOSE_ENV" ]; then
    say "  generating secrets in $COMPOSE_ENV"
    (umask 077 && cat >"$COMPOSE_ENV" <<EOF
POSTGRES_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
FLOWER_BASIC_AUTH=crucible:$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
EOF
)
  fi
  grep -q '^CRUCIBLE_SERVICE_TOKEN=' "$COMPOSE_ENV" ||
    printf 'CRUCIBLE_SERVICE_TOKEN=%s\n' "$(head -c 32 /dev/urandom | base64 | tr -d '/+=')" >>"$COMPOSE_ENV"
  # What this start chose, rewritten each time; the docker-socket-proxy mounts the engine's socket.
  local socket=/var/run/docker.sock
  case $DOCKER_HOST in unix://*) socket=${DOCKER_HOST#unix://} ;; esac
  sed -i '/^CRUCIBLE_PORT=/d; /^CRUCIBLE_TLS_PORT=/d; /^CRUCIBLE_BIND=/d; /^CRUCIBLE_FLOWER_PORT=/d; /^CRUCIBLE_TLS_CERT=/d; /^CRUCIBLE_TLS_KEY=/d; /^CRUCIBLE_ENGINE_SOCKET=/d; /^# DOCKER_HOST=/d' "$COMPOSE_ENV"
  printf 'CRUCIBLE_PORT=%s\nCRUCIBLE_TLS_PORT=%s\nCRUCIBLE_BIND=%s\nCRUCIBLE_TLS_CERT=%s\nCRUCIBLE_TLS_KEY=%s\nCRUCIBLE_ENGINE_SOCKET=%s\n# DOCKER_HOST=%s\n' \
    "$PORT" "$TLS_PORT" "$BIND" "$TLS_CERT" "$TLS_KEY" "$socket" "$DOCKER_HOST" >>"$COMPOSE_ENV"
}

start_compose() {
  local flavour=$1
  mkdir -p "$STATE_DIR"
  prepare_certificate
  # The nginx image serves the web app as built now.
  build_web_app
  DOCKER_HOST=$("$ENGINE_SCRIPT" service-images) || die "no container engine for Compose mode"
  export DOCKER_HOST
  docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null ||
    "$ENGINE_SCRIPT" compose-tool >/dev/null
  compose_files "$flavour" >"$COMPOSE_MARK"
  write_compose_env
  say "Starting Crucible with Docker Compose (project $COMPOSE_PROJECT, DOCKER_HOST=$DOCKER_HOST):"
  compose up -d --no-build --remove-orphans
  local deadline=$((SECONDS + ${CRUCIBLE_READY_TIMEOUT:-180}))
  # Through the front door, over HTTPS (production redirects plain HTTP); -k:
  # this asks whether it answers, not who it is.
  until curl -kfsS -o /dev/null "https://127.0.0.1:$TLS_PORT/ready" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { compose ps; die "the stack was not ready in time; see ./start-platform.sh logs"; }
    sleep 1
  done
  ensure_admin_key "compose exec -T api crucible-admin" "https://127.0.0.1:$TLS_PORT"
  say ""
  front_door_urls "FLOWER_BASIC_AUTH in $COMPOSE_ENV"
  say "  Status:     ./start-platform.sh status    Logs: ./start-platform.sh logs"
  say "  Stop it:    ./start-platform.sh stop"
}

compose_running() { [ -f "$COMPOSE_MARK" ]; }

stop_compose() {
  local volumes=()
  [ "${1:-}" = --volumes ] && volumes=(--volumes)
  say "Stopping the Compose stack $COMPOSE_PROJECT:"
  compose down --remove-orphans "${volumes[@]}"
  rm -f "$COMPOSE_MARK"
}

logs() {
  if compose_running; then compose logs --tail=200 "$@"; else tail -n 200 "$LOG_DIR"/*.log; fi
}

# --- commands -----------------------------------------------------------------

docker_engine_answers() {
  command -v docker >/dev/null && timeout 5 docker info >/dev/null 2>&1
}

start_local() {
  check_ports_free
  ensure_debian_packages
  ensure_workspace
  prepare_docker_backend
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  export CRUCIBLE_BROKER_URL=${CRUCIBLE_BROKER_URL:-redis://127.0.0.1:$REDIS_PORT/0}
  export CRUCIBLE_POOL_REDIS_URL=${CRUCIBLE_POOL_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/1}
  export CRUCIBLE_CACHE_REDIS_URL=${CRUCIBLE_CACHE_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/2}
  export CRUCIBLE_STORAGE_URL=http://127.0.0.1:$STORAGE_PORT
  export CRUCIBLE_EXECUTOR_URL=http://127.0.0.1:$EXECUTOR_PORT  # registered in the pool
  export CRUCIBLE_DATABASE_URL=${CRUCIBLE_DATABASE_URL:-sqlite:///$STATE_DIR/crucible.db}
  export CRUCIBLE_DATA_DIR=${CRUCIBLE_DATA_DIR:-$STATE_DIR/storage}
  CRUCIBLE_SERVICE_TOKEN=$(service_token)
  export CRUCIBLE_SERVICE_TOKEN
  # Before anything starts: production without a real certificate stops here.
  configure_front_door
  build_web_app
  say "Starting Crucible as local processes (state in $STATE_DIR):"
  for name in "${SERVICES[@]}"; do start_service "$name"; done
  wait_ready
  say ""
  front_door_urls "user:password in $STATE_DIR/flower-credentials"
  say "  Stop it:    ./start-platform.sh stop"
}

start() {
  local mode=auto flavour=dev
  for arg in "$@"; do
    case $arg in
      --local) mode=local ;;
      --compose) mode=compose ;;
      --prod) flavour=prod ;;
      *) die "unknown option $arg (try --local, --compose, --prod)" ;;
    esac
  done
  # Production: HTTPS only, with a real certificate (nginx/crucible-nginx.sh).
  if [ "$flavour" = prod ]; then export CRUCIBLE_TLS_REQUIRED=1; fi
  if [ "$mode" = compose ] || { [ "$mode" = auto ] && docker_engine_answers; }; then
    start_compose "$flavour"
  else
    start_local
  fi
}

stop() {
  # --volumes: Compose mode's named volumes (the database!) go too.
  if compose_running; then stop_compose "$@"; fi
  say "Stopping Crucible:"
  local i
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do stop_service "${SERVICES[$i]}"; done
}

status() {
  if compose_running; then compose ps; return; fi
  local name pid any=1
  for name in "${SERVICES[@]}"; do
    if pid=$(running_pid "$name"); then
      printf '  %-17s running  pid %-7s %s\n' "$name" "$pid" "$(service_ports "$name")"
      any=0
    else
      printf '  %-17s stopped\n' "$name"
    fi
  done
  return $any
}

# `crucible-admin keys …` against this platform's storage (SECURITY.md).
keys() {
  if compose_running; then compose exec -T api crucible-admin keys "$@"; return; fi
  CRUCIBLE_STORAGE_URL=http://127.0.0.1:$STORAGE_PORT CRUCIBLE_SERVICE_TOKEN=$(service_token) \
    "$VENV/bin/crucible-admin" keys "$@"
}

command=${1:-start}
case $command in
  start) shift || true; start "$@" ;;
  --local|--compose|--prod) start "$@" ;;
  stop) shift; stop "$@" ;;
  status) status ;;
  logs) shift; logs "$@" ;;
  keys) shift; keys "$@" ;;
  -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d' ;;
  *) die "unknown command $command (start, stop, status, logs or keys)" ;;
esac
