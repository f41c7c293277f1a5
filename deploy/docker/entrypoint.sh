#!/bin/sh
# mlTrainer container entry point (runs under tini). The first argument picks the role:
#   app      migrate, then serve Streamlit on :8501 (the default command)
#   worker   standalone executor worker (`python -m engine worker`)
#   migrate  apply database migrations and exit
#   anything else is executed as given (`dask scheduler`, `dask worker ...`, `python ...`).
set -eu

# prometheus_client writes one file per process here; it must exist before the first import
# and belong to this container alone (never a shared volume: pids would collide).
mkdir -p "${PROMETHEUS_MULTIPROC_DIR:-/tmp/mltrainer-metrics}" "${MPLCONFIGDIR:-/tmp/matplotlib}"

role="${1:-app}"
case "$role" in
  app)
    shift || true
    python -m engine migrate
    exec streamlit run app.py \
      --server.port "${PORT:-8501}" \
      --server.address 0.0.0.0 \
      --server.headless true \
      --server.fileWatcherType none \
      --browser.gatherUsageStats false \
      "$@"
    ;;
  worker)
    exec python -m engine worker
    ;;
  migrate)
    exec python -m engine migrate
    ;;
  *)
    exec "$@"
    ;;
esac
