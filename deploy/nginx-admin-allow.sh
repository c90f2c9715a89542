#!/bin/sh
# Runs in the nginx container before nginx starts (docker-compose.yml's nginx entrypoint):
# writes the admin console's allow-list, /etc/nginx/herald-admin-allow.conf, which
# deploy/nginx.conf includes in `location /admin`. HERALD_ADMIN_ALLOW is a list of addresses or
# networks (CIDR), separated by commas or spaces, e.g. "10.0.0.0/8, 192.168.1.0/24": only they
# reach /admin/ and /admin/api/ (others get 403 JSON). Unset or empty: no network limit (the
# admin API still requires a staff token). Anything that is not an address or a network stops
# the container: a typo must not open the console to everyone.
# HERALD_ADMIN_ALLOW_FILE writes elsewhere (tests).
set -eu
out="${HERALD_ADMIN_ALLOW_FILE:-/etc/nginx/herald-admin-allow.conf}"
rules=""
for net in $(printf '%s' "${HERALD_ADMIN_ALLOW:-}" | tr ',' ' '); do
  case "$net" in
    *[!0-9a-fA-F.:/]* | */*/* | "" )
      echo "HERALD_ADMIN_ALLOW: '$net' is not an IP address or network (CIDR)" >&2
      exit 1 ;;
  esac
  rules="${rules}allow ${net};
"
done
if [ -n "$rules" ]; then
  printf '%sdeny all;\n' "$rules" > "$out"
  echo "admin console: only from ${HERALD_ADMIN_ALLOW}"
else
  : > "$out"
fi
