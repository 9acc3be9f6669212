#!/usr/bin/env bash
# Certificates for lparlink nodes (docs/LINK.md): a certificate authority and
# one key + certificate per node id, made with the openssl command-line tool.
#
#   tools/link-certs.sh [--prefix NAME] [--days N] [--host NAME]... DIR ID [ID...]
#
# Writes into DIR (created if missing; private keys readable by you only):
#   [NAME-]ca.key, [NAME-]ca.crt                  the CA (made once, reused by later runs,
#                                                so you can add a node to an existing set)
#   [NAME-]node-ID.key, [NAME-]node-ID.crt        per node: subject CN lparlink-node-ID,
#                                                signed by that CA, for TLS server and client
# All keys are EC P-256. Certificates are valid for --days (default 3650).
# Each node certificate names localhost, 127.0.0.1 and ::1, plus every --host given
# (a DNS name or an IP address), for peers that check the address they dialed.
#
# --prefix makes a second, unrelated set beside the first: `--prefix rogue DIR 2`
# gives a CA the real nodes do not trust, and a node-2 certificate signed by it
# (what a wrong-CA test presents). Node ids are integers from 1 to 65535.
set -euo pipefail

usage() {
  echo 'usage: tools/link-certs.sh [--prefix NAME] [--days N] [--host NAME]... DIR ID [ID...]' >&2
  echo "$1" >&2
  exit 2
}

prefix=''
days=3650
hosts=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --prefix)
      [[ $# -ge 2 && $2 =~ ^[A-Za-z0-9_.]+$ ]] || usage "--prefix needs a name of letters, digits, '_' or '.'"
      prefix="$2-"
      shift 2
      ;;
    --days)
      [[ $# -ge 2 && $2 =~ ^[1-9][0-9]{0,5}$ ]] || usage "--days needs a whole number of days from 1 to 999999"
      days=$2
      shift 2
      ;;
    --host)
      [[ $# -ge 2 && $2 =~ ^[A-Za-z0-9.:-]+$ ]] || usage "--host needs a DNS name or an IP address"
      hosts+=("$2")
      shift 2
      ;;
    --help | -h) usage 'Makes a CA and one certificate per lparlink node id.' ;;
    --*) usage "unknown option $1" ;;
    *) break ;;
  esac
done
[[ $# -ge 2 ]] || usage 'give a directory and at least one node id'
dir=$1
shift
for id in "$@"; do
  [[ $id =~ ^[1-9][0-9]{0,4}$ && $id -le 65535 ]] || usage "node id '$id' is not an integer from 1 to 65535"
done
command -v openssl >/dev/null || {
  echo 'link-certs: the openssl command is not installed (e.g. apt-get install openssl)' >&2
  exit 1
}

umask 077
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A random positive 128-bit serial: two sets made the same second must not share serials.
serial() { echo "0x01$(openssl rand -hex 15)"; }

ca_key="$dir/${prefix}ca.key"
ca_crt="$dir/${prefix}ca.crt"
if [[ ! -s $ca_key || ! -s $ca_crt ]]; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$ca_key" 2>/dev/null
  openssl req -x509 -new -key "$ca_key" -sha256 -days "$days" -set_serial "$(serial)" \
    -subj "/CN=lparlink ${prefix}ca $(date -u +%Y%m%dT%H%M%SZ)" \
    -addext 'basicConstraints=critical,CA:TRUE,pathlen:0' \
    -addext 'keyUsage=critical,keyCertSign,cRLSign' \
    -out "$ca_crt"
fi

names='DNS:localhost,IP:127.0.0.1,IP:::1'
for h in "${hosts[@]}"; do
  if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then names+=",IP:$h"; else names+=",DNS:$h"; fi
done
cat >"$work/node.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$names
EOF

for id in "$@"; do
  key="$dir/${prefix}node-$id.key"
  crt="$dir/${prefix}node-$id.crt"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" 2>/dev/null
  openssl req -new -key "$key" -subj "/CN=lparlink-node-$id" -out "$work/node.csr"
  openssl x509 -req -in "$work/node.csr" -CA "$ca_crt" -CAkey "$ca_key" -sha256 -days "$days" \
    -set_serial "$(serial)" -extfile "$work/node.ext" -out "$crt" 2>/dev/null
  chmod 644 "$crt"
done
chmod 644 "$ca_crt"
echo "link-certs: ${prefix}ca.crt and ${prefix}node-{$(IFS=,; echo "$*")}.{key,crt} in $dir"
