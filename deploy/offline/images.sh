#!/usr/bin/env bash
# ONLY for a machine without a container registry (this project's CI machine): builds local
# stand-ins for the images that deploy/Dockerfile and docker-compose.yml name, from Debian
# bookworm's packages and this machine's own Rust toolchain, and tags them with those names:
#
#   debian:bookworm-slim   debootstrap --variant=minbase bookworm, imported
#   rust:1-bookworm        that + gcc/libc6-dev/pkg-config + this machine's stable toolchain
#   postgres:16            that + Debian's postgresql (15): POSTGRES_DB/USER/PASSWORD, PGDATA,
#                          /var/lib/postgresql/data, pg_isready, as the official image
#   redis:7                that + Debian's redis-server (7.0), reachable from other containers
#   nginx:1.27             that + Debian's nginx (1.22), `nginx -g 'daemon off;'`
#   prom/prometheus:v2.53.2  that + Debian's prometheus (2.42), the official image's entrypoint,
#                          default command, /prometheus and user nobody (the monitoring profile)
#
# Anywhere with a registry, `docker compose up --build` pulls the official images and this
# script is not needed; deploy/Dockerfile stays the standard one either way. An image that
# already exists (official or made here) is kept; --force rebuilds the stand-ins.
#
# HTTPS from containers here goes through a proxy whose CA only this machine trusts, so the
# stand-ins also trust this machine's CA bundle (cargo fetches crates inside the build).
# Usage: deploy/offline/images.sh [--force]   Cache: $HERALD_IMAGE_CACHE (/var/tmp/herald-images).
set -euo pipefail
cd "$(dirname "$0")"
force=false
[ "${1:-}" = --force ] && force=true
cache=${HERALD_IMAGE_CACHE:-/var/tmp/herald-images}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$cache"

have() { ! $force && docker image inspect "$1" >/dev/null 2>&1; }

if ! have debian:bookworm-slim; then
    if [ ! -x "$cache/bookworm/bin/bash" ]; then
        command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
        rm -rf "$cache/bookworm.tmp"
        debootstrap --variant=minbase bookworm "$cache/bookworm.tmp" "$mirror" > "$cache/debootstrap.log" 2>&1 \
            || { tail -20 "$cache/debootstrap.log"; exit 1; }
        rm -rf "$cache/bookworm.tmp/var/cache/apt/archives/"*.deb "$cache/bookworm.tmp/var/lib/apt/lists/"*
        mv "$cache/bookworm.tmp" "$cache/bookworm"
    fi
    echo "images: debian:bookworm-slim (debootstrap minbase)"
    tar -C "$cache/bookworm" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' - debian:bookworm-slim > /dev/null
fi

# This machine's CA bundle, for the stand-ins' trust store (see the header).
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp /etc/ssl/certs/ca-certificates.crt "$context/host-ca-bundle.crt"
cp postgres-entrypoint.sh redis-entrypoint.sh "$context/"

build() { # tag dockerfile
    echo "images: $1 ($2)"
    docker build -q -t "$1" -f "$2" "$context" > /dev/null
}
have postgres:16 || build postgres:16 postgres.Dockerfile
have redis:7 || build redis:7 redis.Dockerfile
have nginx:1.27 || build nginx:1.27 nginx.Dockerfile
have prom/prometheus:v2.53.2 || build prom/prometheus:v2.53.2 prometheus.Dockerfile
if ! have rust:1-bookworm; then
    toolchain=$(rustc --print sysroot)
    mkdir -p "$context/toolchain"
    cp -a "$toolchain/bin" "$toolchain/lib" "$toolchain/libexec" "$context/toolchain/"
    build rust:1-bookworm rust.Dockerfile
fi
docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^(debian:bookworm-slim|rust:1-bookworm|postgres:16|redis:7|nginx:1.27|prom/prometheus:v2.53.2) '
