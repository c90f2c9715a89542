#!/usr/bin/env bash
# ONLY for a machine without a container registry (this project's CI machine): builds local
# stand-ins for the images that deploy/Dockerfile and docker-compose.yml name, from Debian
# bookworm's packages and this machine's own Rust toolchain, and tags them with those names:
#
#   debian:bookworm-slim   debootstrap --variant=minbase bookworm, imported
#   rust:1-bookworm        that + gcc/libc6-dev/pkg-config + this machine's stable toolchain
#                          + Cargo.lock's crates, vendored (see below)
#   postgres:16            that + Debian's postgresql (15): POSTGRES_DB/USER/PASSWORD, PGDATA,
#                          /var/lib/postgresql/data, pg_isready, as the official image
#   redis:7                that + Debian's redis-server (7.0), reachable from other containers
#   nginx:1.27             that + Debian testing's nginx (1.30; bookworm's 1.22 lacks the
#                          upstream `resolve` nginx.conf uses), `nginx -g 'daemon off;'`
#   prom/prometheus:v2.53.2  that + Debian's prometheus (2.42), the official image's entrypoint,
#                          default command, /prometheus and user nobody (the monitoring profile)
#
# Anywhere with a registry, `docker compose up --build` pulls the official images and this
# script is not needed; deploy/Dockerfile stays the standard one either way. An image that
# already exists (official or made here) is kept, but for rust:1-bookworm (below); --force
# rebuilds the stand-ins.
#
# Nothing inside a build here reaches anything but Debian's mirror: the Rust stand-in carries
# the crates Cargo.lock names (`cargo vendor` on this machine) and cargo's source replacement to
# them, so building deploy/Dockerfile on it never contacts crates.io. It is made again whenever
# Cargo.lock changed (its `herald.cargo-lock` label); `cargo vendor` reads this machine's cargo
# cache and fetches from crates.io only what that lacks, outside any container.
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

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp postgres-entrypoint.sh redis-entrypoint.sh "$context/"

build() { # tag dockerfile [docker build options]
    echo "images: $1 ($2)"
    docker build -q -t "$1" -f "$2" "${@:3}" "$context" > /dev/null
}
have postgres:16 || build postgres:16 postgres.Dockerfile
have redis:7 || build redis:7 redis.Dockerfile
# nginx from Debian testing (1.30, `server … resolve`); an older stand-in without the label is
# made again.
[ "$(docker image inspect -f '{{index .Config.Labels "herald.nginx"}}' nginx:1.27 2>/dev/null || true)" = forky ] \
    || build nginx:1.27 nginx.Dockerfile --label herald.nginx=forky
have prom/prometheus:v2.53.2 || build prom/prometheus:v2.53.2 prometheus.Dockerfile
# The Rust stand-in is made again whenever it was not made for this Cargo.lock (an image
# without the label, official or older, is replaced: its crates would come from crates.io).
lock=$(sha256sum ../../Cargo.lock | cut -c1-16)
made_for=$(docker image inspect -f '{{index .Config.Labels "herald.cargo-lock"}}' rust:1-bookworm 2>/dev/null || true)
if ! have rust:1-bookworm || [ "$made_for" != "$lock" ]; then
    toolchain=$(rustc --print sysroot)
    mkdir -p "$context/toolchain"
    cp -a "$toolchain/bin" "$toolchain/lib" "$toolchain/libexec" "$context/toolchain/"
    cargo vendor --quiet --locked --versioned-dirs --manifest-path ../../Cargo.toml "$context/vendor" > /dev/null
    build rust:1-bookworm rust.Dockerfile --label "herald.cargo-lock=$lock"
fi
docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^(debian:bookworm-slim|rust:1-bookworm|postgres:16|redis:7|nginx:1.27|prom/prometheus:v2.53.2) '
