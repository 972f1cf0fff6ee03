# swarm-utils: a static Go binary on the docker CLI image it drives.
#   docker build -t swarm-utils .
# The tests build an equivalent image without Docker Hub: scripts/lib/build-image.sh makes the
# same file system (static binary, static docker CLI, busybox sh/wget, user 10001) and takes
# ENV/USER/EXPOSE/HEALTHCHECK/ENTRYPOINT/CMD from this file's last stage for `docker import
# --change`; keep those instructions one per setting and free of build args.
FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/swarm-utils .

# The same docker CLI image the helper services use by default: one image to pull and trust.
# It has the docker CLI at /usr/local/bin/docker and busybox sh/wget for the health check.
FROM docker:25.0.5-cli-alpine3.20
COPY --from=build /out/swarm-utils /usr/local/bin/swarm-utils
# Non-root: the process needs nothing but /var/run/docker.sock. The socket is root:<group> 0660
# on the host, so run the container with that group as its primary group — stack file:
# `user: "10001:${DOCKER_GID}"` with DOCKER_GID=$(stat -c %g /var/run/docker.sock) on the
# manager (the `docker` group, often 999/998/106; 0 when the socket is root:root, which is fine:
# group 0 grants only what the socket's group bits allow). Access to docker.sock is
# root-equivalent anyway: treat this container as root on the manager.
# /data: the run history (SWARM_UTILS_DATA_DIR), the user's own; a named volume mounted there
# starts with this owner (the stack file mounts one).
RUN addgroup -S -g 10001 swarm-utils \
 && adduser -S -D -H -u 10001 -G swarm-utils -h /tmp -s /sbin/nologin swarm-utils \
 && install -d -m 0700 -o 10001 -g 10001 /data
USER 10001:10001
# HOME=/tmp: the docker CLI keeps ~/.docker there (private registry logins use their own dir).
ENV SWARM_UTILS_LOG_FORMAT=json HOME=/tmp
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 CMD wget -q -O /dev/null http://127.0.0.1:3000/healthz || exit 1
ENTRYPOINT ["swarm-utils"]
CMD ["serve"]
