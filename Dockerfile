# One image for every wasmind process: the CLI, the spawner and the hosts (compose.yaml, k8s/).
# The shipped actors are built and precompiled into its cache at build time, so a host loads them
# in milliseconds instead of building them when it starts.
#
#   docker build -t wasmind:0.1.0 .
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WASMIND_CACHE_DIR=/var/cache/wasmind \
    WASMIND_STATE_DIR=/tmp/wasmind-state
WORKDIR /app

COPY pyproject.toml README.md ./
COPY src src
COPY services services
COPY wit wit
COPY actors actors
COPY examples examples
COPY k8s/wasmind.toml k8s/wasmind.toml

RUN pip install --no-cache-dir '.[kubernetes]' \
 && wasmind build actors/assistant actors/conversation_compaction actors/execute_bash \
    actors/file_interaction actors/examples/* \
 && useradd --uid 10001 --create-home wasmind \
 && chown -R wasmind /var/cache/wasmind

USER 10001
CMD ["wasmind", "--help"]
