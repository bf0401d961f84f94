# syntax=docker/dockerfile:1
# One image recipe for both binaries; pick one with --target:
#   docker build --target api     -t chargeplane/api .
#   docker build --target gateway -t chargeplane/gateway .
# (without --target you get the api).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH
# CGO off: the SQLite driver is pure Go, so the binaries run on a bare image.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
      go build -trimpath -ldflags="-s -w" -o /out/gateway ./gateway && \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
      go build -trimpath -ldflags="-s -w" -o /out/api ./api && \
    mkdir -p /out/data

# distroless/static: CA certificates and tzdata, no shell, runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot AS gateway
COPY --from=build /out/gateway /usr/local/bin/gateway
USER nonroot:nonroot
EXPOSE 8887
ENTRYPOINT ["/usr/local/bin/gateway"]

FROM gcr.io/distroless/static-debian12:nonroot AS api
COPY --from=build /out/api /usr/local/bin/api
# The embedded mode keeps its SQLite file and generated secret here.
COPY --from=build --chown=nonroot:nonroot /out/data /data
ENV DATA_DIR=/data
VOLUME /data
USER nonroot:nonroot
EXPOSE 8080 9090 8887
ENTRYPOINT ["/usr/local/bin/api"]
