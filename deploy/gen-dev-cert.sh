#!/usr/bin/env bash
# A self-signed development certificate for deploy/nginx.conf: herald.crt and herald.key
# (CN localhost, SAN DNS:localhost and IP:127.0.0.1, valid 365 days, RSA 2048).
#
#   bash deploy/gen-dev-cert.sh [DIR]    # DIR defaults to deploy/certs next to this script
#
# Idempotent: when both files exist they are kept (delete them to make new ones). For
# development only: clients must trust herald.crt (curl --cacert deploy/certs/herald.crt).
# In production, mount a real certificate and key at the same paths.
set -euo pipefail

dir=${1:-"$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/certs"}
crt="$dir/herald.crt"
key="$dir/herald.key"

if [ -s "$crt" ] && [ -s "$key" ]; then
    echo "gen-dev-cert: keeping $crt and $key"
    exit 0
fi

command -v openssl >/dev/null 2>&1 || { echo "gen-dev-cert: openssl is not installed" >&2; exit 1; }
mkdir -p "$dir"
# Both files are made in a scratch directory and moved in together: never half a pair.
scratch=$(mktemp -d "$dir/.gen-dev-cert.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
if ! openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 365 \
    -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature,keyEncipherment" \
    -addext "extendedKeyUsage=serverAuth" \
    -keyout "$scratch/herald.key" -out "$scratch/herald.crt" 2>"$scratch/openssl.log"; then
    cat "$scratch/openssl.log" >&2
    exit 1
fi
chmod 600 "$scratch/herald.key"
chmod 644 "$scratch/herald.crt"
mv -f "$scratch/herald.key" "$key"
mv -f "$scratch/herald.crt" "$crt"
echo "gen-dev-cert: wrote $crt and $key (self-signed, CN localhost, 365 days)"
