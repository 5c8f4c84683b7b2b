# Multi-stage build: compile in the Rust image, run as a non-root user in a slim Debian.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin gatehouse

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/gatehouse gatehouse \
    && mkdir -p /etc/gatehouse /var/lib/gatehouse && chown gatehouse /var/lib/gatehouse
COPY --from=build /src/target/release/gatehouse /usr/local/bin/gatehouse
COPY config.yaml /etc/gatehouse/config.yaml
COPY policies /etc/gatehouse/policies
USER gatehouse
WORKDIR /var/lib/gatehouse
ENV GATEHOUSE_LISTEN=0.0.0.0:8080 GATEHOUSE_OPS_LISTEN=0.0.0.0:9100 GATEHOUSE_DATA=/var/lib/gatehouse
EXPOSE 8080 9100
VOLUME /var/lib/gatehouse
ENTRYPOINT ["/usr/local/bin/gatehouse", "-c", "/etc/gatehouse/config.yaml"]
CMD ["serve"]
