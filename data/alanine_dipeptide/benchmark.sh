#!/usr/bin/env bash
# OpenMM (CPU platform, one conformation at a time) against boltzflow's molecular plugin on the
# same alanine dipeptide conformations; prints both throughputs and their ratio.
# With --md first: Langevin MD instead (md_benchmark.py): OpenMM's LangevinMiddleIntegrator
# against `boltzflow md`, in ns/day, one simulation against one replica and batched replicas.
# Works from a clean clone: installs OpenMM into .venv-openmm (git-ignored) on first use and
# builds the Rust side in release mode. Extra arguments go to benchmark.py (--n, --repeat) or
# md_benchmark.py (--steps, --walkers, --repeat).
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=.venv-openmm
if ! "$venv/bin/python" -c "import openmm, h5py, numpy" >/dev/null 2>&1; then
  echo "benchmark: installing OpenMM into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check openmm==8.6.1 h5py numpy
fi

target_dir=${CARGO_TARGET_DIR:-target}
export BOLTZFLOW_PLUGIN_PATH="$target_dir/release"
if [[ "${1:-}" == "--md" ]]; then
  shift
  echo "benchmark: building boltzflow and the plugin (release)" >&2
  cargo build --release --quiet -p boltzflow -p boltzflow-molecular
  exec "$venv/bin/python" data/alanine_dipeptide/md_benchmark.py \
    --boltzflow "$target_dir/release/boltzflow" "$@"
fi

echo "benchmark: building the plugin and the example (release)" >&2
cargo build --release --quiet -p boltzflow-molecular
cargo build --release --quiet --example molecular_throughput

"$venv/bin/python" data/alanine_dipeptide/benchmark.py \
  --rust "$target_dir/release/examples/molecular_throughput" "$@"
