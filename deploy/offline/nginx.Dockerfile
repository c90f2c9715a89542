# Stand-in for the official nginx image, for registry-less machines (see images.sh). nginx comes
# from Debian testing (forky: 1.30), not bookworm (1.22): deploy/nginx.conf re-resolves the
# replicas in its upstream block (`server herald:8000 resolve;`), which open-source nginx has
# from 1.27.3 on, as the official nginx:1.27 image (1.27.5) does. (The mirror here serves a
# forky Release file past its Valid-Until date: signatures are still checked, the date is not.)
FROM debian:bookworm-slim
RUN echo 'deb [check-valid-until=no] http://deb.debian.org/debian forky main' > /etc/apt/sources.list.d/forky.list \
    && printf 'Package: *\nPin: release n=forky\nPin-Priority: 100\n' > /etc/apt/preferences.d/forky \
    && apt-get update \
    && apt-get install -y --no-install-recommends -t forky nginx \
    && rm -rf /var/lib/apt/lists/* \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log \
    && nginx -v
EXPOSE 80 443
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
