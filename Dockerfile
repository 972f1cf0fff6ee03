# swarm-utils: a static Go binary on the docker CLI image it drives.
# Build: docker build -t swarm-utils .   (the tests build an equivalent image with `docker import`,
# see scripts/lib/build-image.sh, because this machine has no Docker Hub.)
FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/swarm-utils .

# The same docker CLI image the helper services use by default: one image to pull and trust.
FROM docker:25.0.5-cli-alpine3.20
COPY --from=build /out/swarm-utils /usr/local/bin/swarm-utils
# Non-root: the process needs only docker.sock. Give the user the socket's group at deploy time
# (stack file: `user: "10001:<gid of /var/run/docker.sock on the manager>"`, often 999 or 998 —
# `stat -c %g /var/run/docker.sock`). Note that access to docker.sock is root-equivalent anyway.
RUN adduser -D -u 10001 -H swarm-utils
USER 10001
ENV SWARM_UTILS_LOG_FORMAT=json HOME=/tmp
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s \
  CMD wget -q -O /dev/null http://127.0.0.1:3000/healthz || exit 1
ENTRYPOINT ["swarm-utils"]
CMD ["serve"]
