#!/usr/bin/env python3
"""Throughput of alanine dipeptide energy + forces: OpenMM's CPU platform, one conformation at a
time (setPositions + getState(getEnergy, getForces)), against boltzflow's `molecular` plugin on
the same conformations (batched, over rayon's threads), on the same machine and cores.

Run through benchmark.sh (which installs OpenMM into .venv-openmm and builds the Rust side), or:
  .venv-openmm/bin/python data/alanine_dipeptide/benchmark.py --rust target/release/examples/molecular_throughput

Conformations: the 300 K and 1000 K MD frames of fixtures.h5, tiled to --n conformations with a
small seeded perturbation (0.002 nm) so that no two are identical. Both sides time evaluation
only; reading and writing files is outside the timed region.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import openmm
import openmm.unit as unit

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def conformations(n, seed=7):
    with h5py.File(os.path.join(HERE, "fixtures.h5"), "r") as f:
        frames = f["obc1/positions"][:]
        kinds = f["obc1/kind"][:]
    md = frames[kinds <= 1]
    rng = np.random.default_rng(seed)
    x = md[np.arange(n) % len(md)] + rng.normal(0.0, 0.002, (n,) + md.shape[1:])
    return x


def openmm_throughput(x, repeat, threads):
    with open(os.path.join(HERE, "system.xml")) as f:
        system = openmm.XmlSerializer.deserialize(f.read())
    platform = openmm.Platform.getPlatformByName("CPU")
    properties = {"Threads": str(threads)} if threads else {}
    context = openmm.Context(system, openmm.VerletIntegrator(1.0), platform, properties)
    threads = platform.getPropertyValue(context, "Threads")
    kj = unit.kilojoule_per_mole
    energies = np.empty(len(x))
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for k, pos in enumerate(x):
            context.setPositions(pos)
            state = context.getState(getEnergy=True, getForces=True)
            energies[k] = state.getPotentialEnergy().value_in_unit(kj)
            state.getForces(asNumpy=True)
        best = min(best, time.perf_counter() - start)
    return len(x) / best, best, energies, threads


def rust_throughput(binary, x, repeat, threads):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "conformations.h5")
        with h5py.File(path, "w") as f:
            f["positions"] = x
        out = os.path.join(tmp, "energies.txt")
        result = subprocess.run(
            [binary, "--system", os.path.join(HERE, "system.ron"), "--input", path,
             "--repeat", str(repeat), "--energies", out],
            capture_output=True, text=True, cwd=ROOT,
            env=dict(os.environ, **({"RAYON_NUM_THREADS": str(threads)} if threads else {})))
        if result.returncode != 0:
            sys.exit(f"the Rust benchmark failed:\n{result.stderr}")
        line = [l for l in result.stdout.splitlines() if l.startswith("THROUGHPUT")][0]
        summary = result.stdout.splitlines()[0]
        return float(line.split()[1]), np.loadtxt(out), summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rust", default=os.path.join(
        ROOT, "target", "release", "examples", "molecular_throughput"),
        help="the molecular_throughput example binary")
    parser.add_argument("--n", type=int, default=20000, help="conformations")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds; each times both sides in turn, and the best of each is kept")
    parser.add_argument("--threads", type=int, default=0,
                        help="threads on both sides (OpenMM CPU platform, rayon); 0: all cores")
    args = parser.parse_args()

    x = conformations(args.n)
    # Alternate the two sides so that both see the same background load; keep the best of each.
    rate_omm, rate_rs = 0.0, 0.0
    for _ in range(args.repeat):
        r, t, e_omm, threads = openmm_throughput(x, 1, args.threads)
        if r > rate_omm:
            rate_omm, t_omm = r, t
        r, e_rs, line = rust_throughput(args.rust, x, 5, args.threads)
        if r > rate_rs:
            rate_rs, summary = r, line
    diff = np.abs(e_omm - e_rs)
    print(f"conformations: {args.n} alanine dipeptide (Amber ff96 + OBC1), energy + forces")
    print(f"machine: {os.cpu_count()} logical cores; OpenMM {openmm.__version__} CPU platform "
          f"with {threads} threads")
    print(f"OpenMM CPU, one by one:       {rate_omm:12.1f} conformations/s "
          f"({t_omm / args.n * 1e6:.1f} us each)")
    print(f"boltzflow molecular, batched: {rate_rs:12.1f} conformations/s  [{summary}]")
    print(f"energy agreement (OpenMM CPU is mixed precision): max |dE| = {diff.max():.2e} kJ/mol")
    print(f"RATIO {rate_rs / rate_omm:.1f}x")


if __name__ == "__main__":
    main()
