# Stand-in for the official prom/prometheus image, for registry-less machines (see images.sh):
# Debian's prometheus (2.42) with the official image's layout. The binary is /usr/bin/prometheus
# (also /bin/prometheus: bookworm merges /usr), run as nobody (65534) with its data in
# /prometheus, and the same default command; a compose `command:` replaces those flags.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends prometheus \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /usr/share/prometheus /prometheus \
    && cp -a /etc/prometheus/console_libraries /etc/prometheus/consoles /usr/share/prometheus/ \
    && chown -R nobody:nogroup /etc/prometheus /prometheus
USER nobody
EXPOSE 9090
VOLUME ["/prometheus"]
WORKDIR /prometheus
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", \
     "--storage.tsdb.path=/prometheus", \
     "--web.console.libraries=/usr/share/prometheus/console_libraries", \
     "--web.console.templates=/usr/share/prometheus/consoles"]
