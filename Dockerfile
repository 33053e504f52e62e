# syntax=docker/dockerfile:1
# Multi-stage build: the console with Node.js, the binary with the Rust
# toolchain (embedding the console), run on a small Debian image as a
# non-root user.
FROM node:22-bookworm-slim AS console
WORKDIR /console
COPY crates/orgman-server/console/package.json crates/orgman-server/console/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY crates/orgman-server/console/ ./
RUN npm run build

FROM rust:1.85-bookworm AS build
WORKDIR /src
COPY . .
COPY --from=console /console/dist crates/orgman-server/console/dist
RUN cargo build --release --locked -p orgman-server \
 && cp target/release/orgman-server /orgman-server

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home orgman
COPY --from=build /orgman-server /usr/local/bin/orgman-server
USER 10001
EXPOSE 8080
ENV SERVER_PORT=8080 LOGGING_FORMAT=json

ENTRYPOINT ["orgman-server"]
