#!/usr/bin/env bash
# As the official redis image: `redis-server` without a config file listens on every interface
# with protected mode off (other containers reach it on the compose network).
set -euo pipefail
if [ "${1:-}" = redis-server ]; then
    shift
    exec redis-server --bind '* -::*' --protected-mode no "$@"
fi
exec "$@"
