# syntax=docker/dockerfile:1
#
# The Switchyard gateway image: one static binary on distroless "static",
# which holds CA certificates, /etc/passwd with the numeric non-root user
# 65532 and time zone data, and nothing else (no shell, no package manager).
#
#   docker build -t switchyard .
#   docker run --read-only --tmpfs /tmp -v switchyard-data:/var/lib/switchyard \
#     -v $PWD/switchyard.yaml:/etc/switchyard/switchyard.yaml:ro -p 8080:8080 -p 8081:8081 switchyard
#
# The Dockerfile sits at the repository root because the build context is the
# whole module (go.mod, cmd/, internal/): `docker build .` from a clone works
# as is, and deploy/compose builds the same context.
#
# The gateway writes only to the store's directory (/var/lib/switchyard, the
# working directory, so the default sqlite path ./switchyard.db lands there)
# and /tmp; the root file system can be read-only. Logs go to standard error.
# The configuration must listen on all interfaces (listen: ":8080",
# admin.listen: ":8081"), not on the loopback default.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, so the download layer is reused until go.mod changes.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd ./cmd
COPY internal ./internal
# Static (no cgo: the SQLite driver is pure Go), without build paths, so the
# binary runs on an empty root file system.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/switchyard ./cmd/switchyard
# The data directory, owned by the runtime user, for images run without a
# volume mounted there.
RUN mkdir -p /out/data && chown 65532:65532 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/switchyard /usr/local/bin/switchyard
COPY --from=build --chown=65532:65532 /out/data /var/lib/switchyard
USER 65532:65532
WORKDIR /var/lib/switchyard
ENV TMPDIR=/tmp
VOLUME ["/var/lib/switchyard"]
# 8080: every client front door (OpenAI, Anthropic, Bedrock). 8081: admin API
# and Prometheus /metrics.
EXPOSE 8080 8081
# No shell in the image: the binary checks itself (exec form).
HEALTHCHECK --interval=10s --timeout=4s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/switchyard", "healthcheck", "-url", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/switchyard"]
CMD ["serve", "-config", "/etc/switchyard/switchyard.yaml"]
