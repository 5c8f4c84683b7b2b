# Multi-stage build: compile in the Rust image, run as a non-root user in a slim Debian.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# No .git in the build context: pass the commit for `gatehouse --version`
# (docker build --build-arg GATEHOUSE_COMMIT=$(git rev-parse --short=12 HEAD) .); else "unknown".
ARG GATEHOUSE_COMMIT=
# Everything the build reads: the sources, the vendored Pingora patches ([patch.crates-io]),
# the console's templates, and the documents and examples compiled in (include_str!); a test
# (release::the_dockerfile_copies_everything_the_build_reads) keeps this list complete.
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY benches ./benches
COPY vendor ./vendor
COPY templates ./templates
COPY docs ./docs
COPY examples ./examples
RUN cargo build --release --locked --bin gatehouse

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/gatehouse gatehouse \
    && mkdir -p /etc/gatehouse /var/lib/gatehouse && chown gatehouse /var/lib/gatehouse && chmod 0700 /var/lib/gatehouse
COPY --from=build /src/target/release/gatehouse /usr/local/bin/gatehouse
# The production configuration (examples/production), not the demo config.yaml: no log channel
# for codes, no self-registration, secure cookies, ops listener on loopback, everything denied
# until policies say otherwise. Mount your own config and policies over these.
COPY examples/production/config.yaml /etc/gatehouse/config.yaml
COPY examples/production/policies /etc/gatehouse/policies
USER gatehouse
WORKDIR /var/lib/gatehouse
ENV GATEHOUSE_LISTEN=0.0.0.0:8080 GATEHOUSE_DATA=/var/lib/gatehouse
EXPOSE 8080
VOLUME /var/lib/gatehouse
ENTRYPOINT ["/usr/local/bin/gatehouse", "-c", "/etc/gatehouse/config.yaml"]
CMD ["serve"]
