# syntax=docker/dockerfile:1
# One image recipe for both binaries; pick one with --target:
#   docker build --target api     -t chargeplane/api .
#   docker build --target gateway -t chargeplane/gateway .
# (without --target you get the api).
#
# Small: static binaries on distroless/static (CA certificates, tzdata,
# /etc/passwd with nonroot; no shell, no package manager), about 20 MB.
# Non-root: uid 65532, and nothing in the image needs to be writable
# (the api's /data only in the embedded mode), so the root file system can
# be mounted read-only (the Helm chart does).
# Reproducible: the toolchain is pinned by go.mod and the build image's tag,
# the modules by go.sum; -trimpath, -buildvcs=false and an empty build id
# keep paths, VCS state and randomness out of the binaries. For
# byte-identical layers as well, build with BuildKit's timestamp rewrite:
#   docker buildx build --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) \
#     --output type=image,name=chargeplane/api,rewrite-timestamp=true --target api .
# Pin the bases by digest for production builds, e.g.
#   --build-arg RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:…
# (the repository names tags only: digests must be read from the registry,
# which the machine this was written on could not reach).
ARG GO_IMAGE=golang:1.26.8
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH
# CGO off: the SQLite driver is pure Go, so the binaries run on a bare image.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    for cmd in api gateway; do \
      GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
        go build -buildvcs=false -ldflags="-s -w -buildid=" -o /out/$cmd ./$cmd || exit 1; \
    done && \
    mkdir -p /out/data

FROM ${RUNTIME_IMAGE} AS gateway
COPY --from=build /out/gateway /usr/local/bin/gateway
USER 65532:65532
# OCPP (ws://), OCPP over TLS (wss://, when OCPP_TLS_ADDR is set), /metrics
# (when METRICS_ADDR is set).
EXPOSE 8887 8443 9464
ENTRYPOINT ["/usr/local/bin/gateway"]

FROM ${RUNTIME_IMAGE} AS api
COPY --from=build /out/api /usr/local/bin/api
# The embedded mode keeps its SQLite file and generated secret here.
COPY --from=build --chown=65532:65532 /out/data /data
ENV DATA_DIR=/data
VOLUME /data
USER 65532:65532
EXPOSE 8080 9090 8887 9464
ENTRYPOINT ["/usr/local/bin/api"]
