#!/bin/sh
# Entry point of the compose hierarchy's containers.
#
#   entrypoint.sh pki           issue the root CA and every node's certificate (once)
#   entrypoint.sh hub|node      init this node (once), import generated sample
#                               files (once), then serve
#
# Environment: LUNXUN_ORG (this node's org), LUNXUN_UPSTREAM (parent's URL, empty
# for the national bureau), LUNXUN_NODES ("org:host ..." for pki),
# PKI_DIR (/pki), DATA_DIR (/var/lib/lunxun), LUNXUN_BIN_DIR (/usr/local/bin),
# LUNXUN_SERVE (1: exec serve at the end; 0: stop after init, for tests).
set -eu
pki=${PKI_DIR:-/pki}
data=${DATA_DIR:-/var/lib/lunxun}
bin=${LUNXUN_BIN_DIR:-/usr/local/bin}

case "${1:-}" in
  pki)
    if [ -f "$pki/root/ca.pem" ]; then
      echo "pki: already issued"
      exit 0
    fi
    "$bin/lunxun-hub" certs init-ca --out "$pki/root"
    for spec in ${LUNXUN_NODES:-100000:national 410000:province 410100:prefecture 410102:county}; do
      org=${spec%%:*}
      host=${spec#*:}
      "$bin/lunxun-hub" certs issue --ca "$pki/root" --org "$org" --host "$host" --out "$pki/$org"
    done
    # The nodes run as an unprivileged user: let them read their own dirs.
    chmod -R a+rX "$pki"
    chmod 644 "$pki"/*/node.key
    ;;
  hub|node)
    role=$1
    org=${LUNXUN_ORG:?LUNXUN_ORG is required}
    cli="$bin/lunxun-$role"
    if [ ! -f "$data/config.toml" ]; then
      # Keys are copied to the data dir so they stay private to this node.
      mkdir -p "$data/tls"
      cp "$pki/$org/ca.pem" "$pki/$org/node.pem" "$pki/$org/node.key" "$data/tls/"
      chmod 600 "$data/tls/node.key"
      if [ -n "${LUNXUN_UPSTREAM:-}" ]; then
        "$cli" --data "$data" init --org "$org" --tls-dir "$data/tls" --upstream "$LUNXUN_UPSTREAM"
      else
        "$cli" --data "$data" init --org "$org" --tls-dir "$data/tls"
      fi
      "$cli" gen --org "$org" --depth 0 --out "$data/sample" --seed 7
      "$cli" --data "$data" import roster "$data/sample/$org/roster.csv"
      "$cli" --data "$data" import trainings "$data/sample/$org/trainings.csv"
    fi
    if [ "${LUNXUN_SERVE:-1}" = 1 ]; then
      if [ "$role" = hub ]; then
        exec "$cli" --data "$data" serve --listen 0.0.0.0:7443 --http 0.0.0.0:8080
      else
        exec "$cli" --data "$data" serve
      fi
    fi
    ;;
  *)
    echo "usage: entrypoint.sh pki | hub | node" >&2
    exit 2
    ;;
esac
