#!/usr/bin/env bash
# The lunxun PKI in a few commands, wrapping `lunxun-hub certs` and `revoke`.
#
#   pki.sh root     CA_DIR                          national root CA (keep it offline)
#   pki.sh province ROOT_DIR CODE CA_DIR            intermediate CA for a province's subtree
#   pki.sh node     CA_DIR CODE TLS_DIR [HOST...]   a node's certificate (hosts: for hubs that serve)
#   pki.sh renew    CA_DIR CODE TLS_DIR [HOST...]   a fresh key and certificate, swapped into TLS_DIR
#   pki.sh revoke   HUB_DATA_DIR SERIAL             cut a certificate off at the hub it syncs with
#   pki.sh show     PATH                            org, serial, validity of a certificate or dir
#
# LUNXUN_HUB names the lunxun-hub binary (default: lunxun-hub on PATH).
# Exit codes are those of lunxun-hub: 0 success, 2 usage, 3 refused.
set -euo pipefail
hub=${LUNXUN_HUB:-lunxun-hub}

usage() {
  sed -n '2,11p' "$0" >&2
  exit 2
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case "$cmd" in
  root)
    [ $# -eq 1 ] || usage
    "$hub" certs init-ca --org 100000 --out "$1"
    ;;
  province)
    [ $# -eq 3 ] || usage
    "$hub" certs init-ca --ca "$1" --org "$2" --out "$3"
    ;;
  node)
    [ $# -ge 3 ] || usage
    ca=$1 org=$2 out=$3
    shift 3
    hosts=()
    for h in "$@"; do hosts+=(--host "$h"); done
    "$hub" certs issue --ca "$ca" --org "$org" --out "$out" "${hosts[@]}"
    ;;
  renew)
    [ $# -ge 3 ] || usage
    ca=$1 org=$2 dir=$3
    shift 3
    hosts=()
    for h in "$@"; do hosts+=(--host "$h"); done
    new="$dir.new.$$"
    "$hub" certs issue --ca "$ca" --org "$org" --out "$new" "${hosts[@]}"
    old="$dir.old.$(date +%Y%m%d%H%M%S)"
    mv "$dir" "$old"
    mv "$new" "$dir"
    echo "renewed: $dir (previous files kept in $old; revoke the old serial once every node uses the new one)"
    ;;
  revoke)
    [ $# -eq 2 ] || usage
    "$hub" --data "$1" revoke --serial "$2"
    ;;
  show)
    [ $# -eq 1 ] || usage
    "$hub" certs show "$1"
    ;;
  *)
    usage
    ;;
esac
