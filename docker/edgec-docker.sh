#!/usr/bin/env bash
# Run edgec inside the edgec Docker image on the current folder, e.g.
#   docker/edgec-docker.sh compile model.onnx --target rasp4b -o model.edgec.tar
#   docker/edgec-docker.sh run model.edgec.tar --device emulate --check model.onnx
# Paths must be inside the current folder (it is mounted at /work). The image is built on
# first use (EDGEC_IMAGE overrides its name).
set -euo pipefail
IMAGE=${EDGEC_IMAGE:-edgec:latest}
REPO=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v docker >/dev/null; then
    echo "edgec-docker: docker is not installed" >&2; exit 1
fi
if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
    docker build -t "$IMAGE" -f "$REPO/docker/Dockerfile" "$REPO"
fi
exec docker run --rm -v "$PWD:/work" -w /work -u "$(id -u):$(id -g)" -e HOME=/tmp \
    -v edgec-cache:/var/cache/edgec "$IMAGE" "$@"
