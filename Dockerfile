# syntax=docker/dockerfile:1.7
#
# mlTrainer image: one image for every role (Streamlit app, `python -m engine worker`,
# Dask scheduler and Dask workers). The role is the command:
#
#   docker run IMAGE                    # app: migrate, then Streamlit on :8501 (metrics :9464)
#   docker run IMAGE worker             # standalone executor worker (metrics :9464)
#   docker run IMAGE migrate            # apply database migrations and exit
#   docker run IMAGE dask scheduler     # any other command runs as given
#   docker run IMAGE dask worker tcp://scheduler:8786 --preload /app/deploy/dask/mltrainer_preload.py
#
# Base image: an exact tag (Python patch release and Debian release). For byte-for-byte
# reproducible builds also pin the digest the tag resolves to today, e.g.
#   docker buildx imagetools inspect python:3.11.11-slim-bookworm --format '{{.Manifest.Digest}}'
# and build with --build-arg PYTHON_IMAGE=python:3.11.11-slim-bookworm@sha256:<digest>.
# (CI records the digest it built from in the image labels; see .github/workflows/ci.yml.)
#
# Sandbox: dynamic (generated) actions run in a child process inside a fresh network
# namespace, under Landlock, seccomp (libseccomp2, installed below) and rlimits, and
# FAIL CLOSED: without one of these layers they do not run unless
# MLTRAINER_SANDBOX_ALLOW_MISSING_LAYERS waives it (docs/sandbox.md). Creating the
# namespace needs either CAP_SYS_ADMIN (`--cap-add SYS_ADMIN`), an unprivileged user
# namespace allowed by the seccomp profile, or a separate sandbox container started with
# no network (then waive network_namespace). Landlock needs a kernel with Landlock enabled
# and a seccomp profile allowing its three calls (Docker 23+ / containerd 1.7+ defaults
# do). See docs/security.md ("The sandbox in containers") for the trade-offs; the image
# itself adds no capability.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# ---------------------------------------------------------------------------- build
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
# Only the runtime lock (every package pinned, with its SHA-256 hashes; `make lock`):
# test tools never reach the image, and a download whose hash differs fails the build.
COPY requirements.lock .
RUN pip wheel --require-hashes --wheel-dir /wheels -r requirements.lock

# ---------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="mlTrainer" \
      org.opencontainers.image.description="Chat with Claude to load market data, train models and run quant analytics" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# libgomp1: OpenMP runtime for LightGBM and XGBoost. libseccomp2: the sandbox child's
# system-call filter (engine/sandbox/child.py). tini: a real PID 1 that forwards SIGTERM
# (graceful job shutdown) and reaps the sandbox's and the pool's child processes.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 libseccomp2 tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 mltrainer \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/mltrainer \
       --shell /usr/sbin/nologin mltrainer

# Install from the builder's wheels only (no index), checked against the lock's hashes
# again: the layer holds no compiler and no wheel files.
COPY requirements.lock /tmp/requirements.lock
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels --require-hashes \
       -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MLTRAINER_DATA_DIR=/data \
    PROMETHEUS_MULTIPROC_DIR=/tmp/mltrainer-metrics \
    MPLCONFIGDIR=/tmp/matplotlib \
    STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false

WORKDIR /app
# Code is owned by root and read-only for the app user; only /data and /tmp are written.
COPY app.py ./
COPY pages ./pages
COPY ui ./ui
COPY engine ./engine
COPY storage ./storage
# Reproduction bundles carry the exact package versions (engine/reproduce/bundle.py).
COPY requirements.lock ./requirements.lock
COPY .streamlit/config.toml ./.streamlit/config.toml
COPY deploy/dask/mltrainer_preload.py ./deploy/dask/mltrainer_preload.py
COPY --chmod=0755 deploy/docker/entrypoint.sh /usr/local/bin/mltrainer-entrypoint
# The app's own bytecode, compiled once here (pip already compiled the packages'): with
# PYTHONDONTWRITEBYTECODE and read-only code, every CLI call, pool worker and Dask worker
# would otherwise compile these modules from source at start, about 0.2 s of CPU each
# (BENCHMARKS.md, "Start-up").
RUN python -m compileall -q app.py pages ui engine storage deploy/dask

RUN mkdir -p /data /tmp/mltrainer-metrics && chown 10001:10001 /data /tmp/mltrainer-metrics

# Database (SQLite when DATABASE_URL is unset), datasets, model files, logs, cookie key.
# Shared by the app and its workers (they read each other's datasets and models).
VOLUME ["/data"]

USER 10001:10001
# 8501 Streamlit, 9464 Prometheus /metrics (MLTRAINER_METRICS_PORT)
EXPOSE 8501 9464

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status != 200)"

ENTRYPOINT ["/usr/bin/tini", "--", "mltrainer-entrypoint"]
CMD ["app"]
