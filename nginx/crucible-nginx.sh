#!/usr/bin/env bash
# Prepares and runs Crucible's front door: the same steps in local mode
# (start-platform.sh calls it) and in the nginx image (its entrypoint).
#
#   crucible-nginx.sh certificate          print the certificate and key to serve
#                                          (two lines), making a self-signed pair
#                                          when none is given and none is required
#   crucible-nginx.sh configure OUT_DIR    write the configuration into OUT_DIR
#   crucible-nginx.sh run CONF_DIR         check the certificate, write the
#                                          configuration into CONF_DIR, exec nginx
#
# Settings (environment; empty counts as unset):
#   CRUCIBLE_TLS_CERT, CRUCIBLE_TLS_KEY  PEM certificate (with its chain) and key
#   CRUCIBLE_TLS_REQUIRED=1              production: refuse a missing, self-signed
#                                        or expired certificate; HTTP redirects to HTTPS
#   CRUCIBLE_TLS_PORT                    the HTTPS port clients use (for redirects)
#   CRUCIBLE_RATE_GENERAL, _API, _FOLLOW, _SUBMIT   rates per client address (nginx syntax: 30r/s, 60r/m)
#   CRUCIBLE_RATE_GENERAL_BURST, _API_BURST, _FOLLOW_BURST, _SUBMIT_BURST   requests let through at once above them
#   CRUCIBLE_CONN_LIMIT                  connections open at once per client address
# and, from whoever runs it, where things are (the CRUCIBLE_NGINX_* that
# nginx.conf names): listen addresses, upstreams, the web root, the run
# directory, the workers' user; CRUCIBLE_NGINX_SELF_SIGNED_DIR is where a self-signed pair is kept.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { printf 'crucible-nginx: %s\n' "$*" >&2; exit 1; }

# The one place the front door's defaults are written down.
defaults() {
  : "${CRUCIBLE_RATE_GENERAL:=30r/s}" "${CRUCIBLE_RATE_GENERAL_BURST:=60}"
  : "${CRUCIBLE_RATE_API:=10r/s}" "${CRUCIBLE_RATE_API_BURST:=20}"
  : "${CRUCIBLE_RATE_FOLLOW:=200r/s}" "${CRUCIBLE_RATE_FOLLOW_BURST:=400}"
  : "${CRUCIBLE_RATE_SUBMIT:=2r/s}" "${CRUCIBLE_RATE_SUBMIT_BURST:=10}"
  : "${CRUCIBLE_CONN_LIMIT:=50}"
  : "${CRUCIBLE_TLS_PORT:=8443}"
  export CRUCIBLE_RATE_GENERAL CRUCIBLE_RATE_GENERAL_BURST CRUCIBLE_RATE_API \
    CRUCIBLE_RATE_API_BURST CRUCIBLE_RATE_FOLLOW CRUCIBLE_RATE_FOLLOW_BURST \
    CRUCIBLE_RATE_SUBMIT CRUCIBLE_RATE_SUBMIT_BURST CRUCIBLE_CONN_LIMIT
  local rate
  for rate in "$CRUCIBLE_RATE_GENERAL" "$CRUCIBLE_RATE_API" "$CRUCIBLE_RATE_FOLLOW" \
    "$CRUCIBLE_RATE_SUBMIT"; do
    [[ $rate =~ ^[1-9][0-9]*r/[sm]$ ]] || die "a rate is like 30r/s or 60r/m, not '$rate'"
  done
  for rate in "$CRUCIBLE_RATE_GENERAL_BURST" "$CRUCIBLE_RATE_API_BURST" \
    "$CRUCIBLE_RATE_FOLLOW_BURST" "$CRUCIBLE_RATE_SUBMIT_BURST" "$CRUCIBLE_CONN_LIMIT"; do
    [[ $rate =~ ^[0-9]+$ ]] || die "bursts and CRUCIBLE_CONN_LIMIT are whole numbers, not '$rate'"
  done
  if [ -n "${CRUCIBLE_TLS_REQUIRED:-}" ]; then
    export CRUCIBLE_NGINX_HTTP=redirect
  else
    export CRUCIBLE_NGINX_HTTP=serve
  fi
  # https://host:443/ is spelled https://host/.
  if [ "$CRUCIBLE_TLS_PORT" = 443 ]; then
    export CRUCIBLE_NGINX_HTTPS_PORT_SUFFIX=""
  else
    export CRUCIBLE_NGINX_HTTPS_PORT_SUFFIX=":$CRUCIBLE_TLS_PORT"
  fi
}

# --- the certificate ----------------------------------------------------------------

check_certificate() {
  local cert=$1 key=$2
  [ -r "$cert" ] || die "cannot read the certificate $cert"
  [ -r "$key" ] || die "cannot read the key $key"
  openssl x509 -in "$cert" -noout 2>/dev/null || die "$cert is not a PEM certificate"
  [ "$(openssl x509 -in "$cert" -noout -pubkey)" = "$(openssl pkey -in "$key" -pubout 2>/dev/null)" ] ||
    die "the key $key does not belong to the certificate $cert"
  openssl x509 -in "$cert" -noout -checkend 0 >/dev/null || die "the certificate $cert has expired"
  if [ -n "${CRUCIBLE_TLS_REQUIRED:-}" ]; then
    local hashes
    hashes=$(openssl x509 -in "$cert" -noout -subject_hash -issuer_hash | sort -u | wc -l)
    [ "$hashes" = 2 ] ||
      die "production needs a certificate signed by a certificate authority; $cert is self-signed"
  fi
}

# Made once and kept: a browser's exception for it survives restarts.
self_signed() {
  local dir=$1
  if [ ! -s "$dir/selfsigned.crt" ] || [ ! -s "$dir/selfsigned.key" ]; then
    mkdir -p "$dir"
    (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -sha256 -days 825 -subj "/CN=localhost" \
      -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
      -addext "basicConstraints=critical,CA:FALSE" \
      -addext "keyUsage=critical,digitalSignature" \
      -addext "extendedKeyUsage=serverAuth" \
      -keyout "$dir/selfsigned.key" -out "$dir/selfsigned.crt" 2>/dev/null) ||
      die "openssl could not make a self-signed certificate in $dir"
    chmod 644 "$dir/selfsigned.crt"
  fi
  printf '%s\n%s\n' "$dir/selfsigned.crt" "$dir/selfsigned.key"
}

cmd_certificate() {
  if [ -n "${CRUCIBLE_TLS_CERT:-}" ] || [ -n "${CRUCIBLE_TLS_KEY:-}" ]; then
    [ -n "${CRUCIBLE_TLS_CERT:-}" ] && [ -n "${CRUCIBLE_TLS_KEY:-}" ] ||
      die "set both CRUCIBLE_TLS_CERT and CRUCIBLE_TLS_KEY"
    check_certificate "$CRUCIBLE_TLS_CERT" "$CRUCIBLE_TLS_KEY"
    printf '%s\n%s\n' "$CRUCIBLE_TLS_CERT" "$CRUCIBLE_TLS_KEY"
    return
  fi
  [ -z "${CRUCIBLE_TLS_REQUIRED:-}" ] ||
    die "production mode needs a real certificate: set CRUCIBLE_TLS_CERT and CRUCIBLE_TLS_KEY (PEM files)"
  [ -n "${CRUCIBLE_NGINX_SELF_SIGNED_DIR:-}" ] ||
    die "no certificate given (CRUCIBLE_TLS_CERT, CRUCIBLE_TLS_KEY) and nowhere to make one"
  self_signed "$CRUCIBLE_NGINX_SELF_SIGNED_DIR"
}

# --- the configuration ----------------------------------------------------------------

# Every ${CRUCIBLE_...} replaced by its value; an unset one stops everything
# rather than leave nginx a hole in its configuration.
render() {
  perl -pe 's/\$\{(CRUCIBLE_[A-Z0-9_]+)\}/defined $ENV{$1} ? $ENV{$1} : die "crucible-nginx: $1 is not set\n"/ge' "$1"
}

cmd_configure() {
  local out=${1:?usage: crucible-nginx.sh configure OUT_DIR} file
  defaults
  mkdir -p "$out" "$CRUCIBLE_NGINX_RUN_DIR"
  for file in "$HERE"/*.conf; do
    render "$file" >"$out/$(basename "$file").new"
    mv "$out/$(basename "$file").new" "$out/$(basename "$file")"
  done
}

cmd_run() {
  local conf=${1:?usage: crucible-nginx.sh run CONF_DIR} files
  defaults
  files=$(cmd_certificate)
  export CRUCIBLE_NGINX_TLS_CERT CRUCIBLE_NGINX_TLS_KEY
  CRUCIBLE_NGINX_TLS_CERT=$(sed -n 1p <<<"$files")
  CRUCIBLE_NGINX_TLS_KEY=$(sed -n 2p <<<"$files")
  cmd_configure "$conf"
  exec nginx -e stderr -p "$CRUCIBLE_NGINX_RUN_DIR" -c "$conf/nginx.conf" \
    -g 'daemon off;'
}

command=${1:-}
case $command in
  certificate) cmd_certificate ;;
  configure) shift; cmd_configure "$@" ;;
  run) shift; cmd_run "$@" ;;
  *) sed -n '2,22p' "$0" >&2; exit 2 ;;
esac
