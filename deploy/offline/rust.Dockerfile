# Stand-in for the official rust image, for registry-less machines (see images.sh): Debian's
# compiler and this machine's own stable Rust toolchain, where the official image keeps its own,
# and Cargo.lock's crates vendored, which cargo reads instead of crates.io.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev pkg-config make ca-certificates git \
    && rm -rf /var/lib/apt/lists/*
COPY toolchain /usr/local/rustup/toolchains/stable
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /usr/local/cargo/bin \
    && for tool in /usr/local/rustup/toolchains/stable/bin/*; do ln -s "$tool" /usr/local/cargo/bin/; done \
    && cargo --version && rustc --version
COPY vendor /opt/cargo-vendor
# `net.offline`: a build that needed anything not vendored fails, instead of reaching out.
RUN printf '[source.crates-io]\nreplace-with = "vendored"\n\n[source.vendored]\ndirectory = "/opt/cargo-vendor"\n\n[net]\noffline = true\n' \
    > /usr/local/cargo/config.toml
