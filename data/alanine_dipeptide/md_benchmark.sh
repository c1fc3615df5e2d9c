#!/usr/bin/env bash
# Langevin MD of alanine dipeptide: OpenMM's CPU platform against `boltzflow md`, in ns/day,
# with 1 thread and the default threads, plus boltzflow's batched throughput (many replicas).
# Works from a clean clone: installs OpenMM into .venv-openmm (git-ignored) on first use and
# builds the Rust side in release mode. Extra arguments go to md_benchmark.py (--steps, --walkers,
# --repeat).
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=.venv-openmm
if ! "$venv/bin/python" -c "import openmm, h5py, numpy" >/dev/null 2>&1; then
  echo "md_benchmark: installing OpenMM into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check openmm==8.6.1 h5py numpy
fi

echo "md_benchmark: building boltzflow and the molecular plugin (release)" >&2
cargo build --release --quiet -p boltzflow -p boltzflow-molecular

target_dir=${CARGO_TARGET_DIR:-target}
BOLTZFLOW_PLUGIN_PATH="$target_dir/release" "$venv/bin/python" data/alanine_dipeptide/md_benchmark.py \
  --boltzflow "$target_dir/release/boltzflow" "$@"
