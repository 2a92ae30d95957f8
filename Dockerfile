# syntax=docker/dockerfile:1
# Build: docker build --build-arg VERSION=$(git describe --tags --always) -t bulkrevoke .
# Run:   docker run --rm -e CONCUR_ADMIN_TOKEN -v "$PWD:/data" --user "$(id -u):$(id -g)" bulkrevoke \
#          run --out outcomes.csv leavers.csv

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/bulkrevoke/bulkrevoke/internal/cli.version=${VERSION}" \
      -o /out/bulkrevoke ./cmd/bulkrevoke \
 && echo 'bulkrevoke:x:65532:65532:bulkrevoke:/data:/sbin/nologin' > /out/passwd \
 && echo 'bulkrevoke:x:65532:' > /out/group \
 && mkdir -p /out/data

# A static binary needs nothing but CA certificates to reach Concur over TLS.
FROM scratch
ARG VERSION=dev
LABEL org.opencontainers.image.title="bulkrevoke" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/group /etc/group
COPY --from=build /out/bulkrevoke /usr/local/bin/bulkrevoke
# The working directory is where relative paths (a job file's out:) land.
# WORKDIR alone would create it owned by root, unwritable by the user below;
# copied with --chown it belongs to that user, so a run without a volume can
# still write its outcome file (which then dies with the container: mount a
# volume on /data to keep it).
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENTRYPOINT ["/usr/local/bin/bulkrevoke"]
CMD ["run", "-h"]
