#!/usr/bin/env bash
# The GPU check: everything in boltzflow that needs an NVIDIA GPU, in one run of at most 10 minutes.
#
#   scripts/gpu_check.sh bundle [--bundle FILE]
#       Here, on a machine with the Rust toolchain: builds with `--features cuda` and packs the
#       programs the check needs, stripped, into FILE (default .gpu-bundle.tar.xz, about 27 MB,
#       which travels to a GPU machine with the repository): the `boltzflow` binary, the
#       plugins, the flow-step benchmark and the GPU test program.
#   scripts/gpu_check.sh run [--bundle FILE] [--report DIR] [--dry-run]
#       On the GPU machine, from the repository's root (it needs no Rust toolchain): runs
#         1. the GPU tests (tests/gpu.rs: four kinds of flow moved between CPU and GPU checkpoints),
#         2. the flow-step benchmark (FAB's alanine-dipeptide flow, batch 1024) on the CPU and the
#            GPU in the same call, in f32 and f64,
#         3. a short FAB run on alanine dipeptide with `--device cuda` (examples/
#            alanine_dipeptide_fab_small.ron cut to 300 steps), then 20,000 samples on the GPU,
#       and writes REPORT/gpu_check.md (default report folder gpu-report) with each step's output
#       (its last 40 lines; whole logs and the FAB run stay in $TMPDIR/gpu_check), exit status and
#       wall time. Each step has its own time limit, so a hang costs one step,
#       not the report. Without an NVIDIA GPU (or with --dry-run) it is a dry run: it checks that
#       the files it would use are there and prints each command it would run, then exits 0.
set -uo pipefail
cd "$(dirname "$0")/.."

usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
  exit 2
}

mode=${1:-}
[ -n "$mode" ] || usage
shift
bundle=.gpu-bundle.tar.xz
report=gpu-report
dry_run=0
while [ $# -gt 0 ]; do
  case $1 in
    --bundle) bundle=${2:?--bundle needs a file}; shift 2 ;;
    --report) report=${2:?--report needs a folder}; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    *) echo "gpu_check: unknown argument $1" >&2; usage ;;
  esac
done

# The FAB run: the small alanine-dipeptide example, shortened.
fab_example=examples/alanine_dipeptide_fab_small.ron
fab_steps=300
fab_samples=20000

make_bundle() {
  set -e
  echo "gpu_check: building with --features cuda (release)" >&2
  cargo build --release --workspace --exclude boltzflow  # the plugins
  cargo build --release --features cuda --bin boltzflow --example flow_step_benchmark
  local tests
  tests=$(cargo test --release --features cuda --test gpu --no-run --message-format=json |
    grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d'"' -f4)
  [ -x "$tests" ] || { echo "gpu_check: the GPU test program was not built" >&2; exit 1; }
  local staging
  staging=$(mktemp -d)
  cp target/release/boltzflow target/release/examples/flow_step_benchmark target/release/lib*.so "$staging"/
  cp "$tests" "$staging"/gpu-tests
  strip "$staging"/*
  # Stripped, the programs are about 150 MB; xz makes them about 27 MB.
  tar -C "$staging" -cJf "$bundle" .
  rm -rf "$staging"
  du -h "$bundle" >&2
  echo "gpu_check: bundle ready in $bundle; on the GPU machine: scripts/gpu_check.sh run --bundle $bundle" >&2
}

# Whether an NVIDIA GPU and its driver are here; prints the GPU.
have_gpu() {
  command -v nvidia-smi >/dev/null 2>&1 &&
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | grep -q .
}

# burn's CUDA backend compiles its kernels at run time with NVRTC, loaded by name: put the
# folders that hold it (a CUDA toolkit's, or PyTorch's pip packages') on the library path.
find_nvrtc() {
  local dirs
  dirs=$(find /usr/local/cuda*/ /usr/lib/x86_64-linux-gnu /opt /usr/local/lib \
    -name 'libnvrtc.so*' -not -path '*/stubs/*' 2>/dev/null | xargs -r -n1 dirname | sort -u | tr '\n' ':')
  export LD_LIBRARY_PATH="${dirs}${LD_LIBRARY_PATH:-}"
}

# step NAME LIMIT_S COMMAND...: runs a step with a time limit, or prints it in a dry run.
step() {
  local name=$1 limit=$2
  shift 2
  if [ "$dry_run" = 1 ]; then
    echo "would run ($name, at most ${limit} s): $*"
    return 0
  fi
  echo "== $name" >&2
  local start rc log=$work/$name.log
  start=$(date +%s%N)
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
  rc=$?
  local ms=$((($(date +%s%N) - start) / 1000000))
  printf '\n## %s\n\n`%s`: exit status %s, %d.%03d s%s\n\n```\n' "$name" "$*" "$rc" \
    $((ms / 1000)) $((ms % 1000)) "$([ "$rc" = 124 ] && echo ", stopped at its limit of ${limit} s")" \
    >>"$report/gpu_check.md"
  tail -n 40 "$log" >>"$report/gpu_check.md"
  printf '```\n' >>"$report/gpu_check.md"
  [ "$rc" = 0 ] || failures=$((failures + 1))
}

run_checks() {
  local missing=0
  for f in "$fab_example" data/alanine_dipeptide/system.ron data/alanine_dipeptide/aldp_min_energy.csv \
    examples/systems/gmm4.ron; do
    [ -f "$f" ] || { echo "gpu_check: $f is missing (run from the repository's root)" >&2; missing=1; }
  done
  [ "$missing" = 0 ] || exit 1
  if ! have_gpu; then
    dry_run=1
    echo "gpu_check: no NVIDIA GPU here (nvidia-smi finds none): dry run" >&2
  fi
  # Logs, the programs, the FAB run and its samples go to a scratch folder; the report holds
  # one file.
  work=${TMPDIR:-/tmp}/gpu_check
  local fab_config=$work/fab_short.ron fab_run=$work/fab_run programs=$work/bundle
  failures=0
  rm -rf "$work"
  mkdir -p "$programs"
  if [ -f "$bundle" ]; then
    tar -C "$programs" -xJf "$bundle"
  elif [ "$dry_run" = 0 ]; then
    echo "gpu_check: $bundle is missing: run scripts/gpu_check.sh bundle where cargo is" >&2
    exit 1
  else
    echo "gpu_check: $bundle is not built yet (scripts/gpu_check.sh bundle makes it)" >&2
  fi
  for program in boltzflow flow_step_benchmark gpu-tests; do
    if [ -f "$bundle" ] && [ ! -x "$programs/$program" ]; then
      echo "gpu_check: $bundle holds no $program: make it again with scripts/gpu_check.sh bundle" >&2
      exit 1
    fi
  done
  if [ "$dry_run" = 0 ]; then
    mkdir -p "$report"
    find_nvrtc
    {
      echo "# GPU check, $(date -u '+%Y-%m-%d %H:%M UTC')"
      echo
      echo "- GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1)"
      echo "- CPU: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
      echo "- NVRTC from: ${LD_LIBRARY_PATH:-not found}"
    } >"$report/gpu_check.md"
  fi
  # The shortened FAB configuration, with its paths made absolute (it is written elsewhere).
  sed -e "s|^    steps: [0-9]*,|    steps: $fab_steps,|" \
    -e "s|^    checkpoint_every: [0-9]*,|    checkpoint_every: 100,|" \
    -e "s|\"\\.\\./data/|\"$PWD/data/|g" "$fab_example" >"$fab_config"
  grep -q "steps: $fab_steps," "$fab_config" && grep -q "\"$PWD/data/alanine_dipeptide/system.ron\"" "$fab_config" || {
    echo "gpu_check: could not shorten $fab_example (its layout changed?)" >&2
    exit 1
  }

  step gpu_tests 300 "$programs/gpu-tests" --test-threads=1 --nocapture
  for precision in f32 f64; do
    step "flow_step_${precision}_cpu" 120 "$programs/flow_step_benchmark" "$precision" cpu
    step "flow_step_${precision}_cuda" 120 "$programs/flow_step_benchmark" "$precision" cuda
  done
  step fab_train_cuda 240 "$programs/boltzflow" train "$fab_config" --out "$fab_run" --device cuda
  step fab_sample_cuda 120 "$programs/boltzflow" sample --run "$fab_run" -n "$fab_samples" \
    --device cuda --output "$work/fab_samples.h5"

  if [ "$dry_run" = 1 ]; then
    echo "gpu_check: dry run done (nothing was run)" >&2
    return 0
  fi
  if grep -q 'no GPU' "$work/gpu_tests.log"; then
    echo "gpu_check: the GPU tests ran on the CPU although nvidia-smi sees a GPU" >&2
    failures=$((failures + 1))
  fi
  echo "gpu_check: report in $report/gpu_check.md; $failures step(s) failed" >&2
  [ "$failures" = 0 ]
}

case $mode in
  bundle) make_bundle ;;
  run) run_checks ;;
  *) usage ;;
esac
