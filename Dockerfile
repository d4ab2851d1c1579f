# syntax=docker/dockerfile:1
#
# Tỉnh số: container image (one static-ish binary on Debian slim).
#
#   docker build -t tinhso .
#   docker run -p 8080:8080 -v tinhso-data:/var/lib/tinhso tinhso serve --listen 0.0.0.0:8080 \
#       --data-dir /var/lib/tinhso --demo          # demo data on SQLite
#
# See docker-compose.yml for PostgreSQL + NATS JetStream and docs/operations.md for operations.
# BuildKit (the default builder of current Docker) is required for the cache mounts.

# ---------------------------------------------------------------------------------------------
# Build stage
# ---------------------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target caches survive between builds; the binary is copied out of the cache
# mount within the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --profile production --locked -p tinhso \
    && install -D -m 0755 target/production/tinhso /out/tinhso

# ---------------------------------------------------------------------------------------------
# Runtime stage
# ---------------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# ca-certificates: outgoing TLS; curl: the HEALTHCHECK below. Not pinned: bookworm's stable
# updates are security fixes we want.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 tinhso \
    && useradd --system --uid 10001 --gid tinhso --home-dir /var/lib/tinhso \
        --no-create-home --shell /usr/sbin/nologin tinhso \
    && install -d -o tinhso -g tinhso -m 0750 /var/lib/tinhso
COPY --from=build /out/tinhso /usr/local/bin/tinhso

ENV TINHSO_LOG_FORMAT=json
# Data directory (thư mục dữ liệu): the SQLite database, attachments and master.key.
VOLUME ["/var/lib/tinhso"]
WORKDIR /var/lib/tinhso
# Numeric so that "runAsNonRoot" checks can verify it.
USER 10001:10001
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["sh", "-c", "curl -fsS -o /dev/null http://127.0.0.1:8080/healthz || exit 1"]

ENTRYPOINT ["tinhso"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--data-dir", "/var/lib/tinhso"]
