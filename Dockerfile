# syntax=docker/dockerfile:1
# Build: docker build --build-arg VERSION=$(git describe --tags --always) -t bulkrevoke .
# Run:   docker run --rm -e CONCUR_ADMIN_TOKEN -v "$PWD:/data" bulkrevoke \
#          run --out /data/outcomes.csv /data/leavers.csv

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
 && echo 'bulkrevoke:x:65532:' > /out/group

# A static binary needs nothing but CA certificates to reach Concur over TLS.
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/group /etc/group
COPY --from=build /out/bulkrevoke /usr/local/bin/bulkrevoke
USER 65532:65532
WORKDIR /data
ENTRYPOINT ["/usr/local/bin/bulkrevoke"]
CMD ["run", "-h"]
