#!/usr/bin/env python3
"""Langevin MD speed of alanine dipeptide: OpenMM's CPU platform (LangevinMiddleIntegrator)
against `boltzflow md` (BAOAB), same system.xml, 300 K, 1 fs, friction 1/ps, no constraints,
both started from aldp_min_energy.csv; with 1 thread and with the default threads.

Run through `bash data/alanine_dipeptide/benchmark.sh --md` (which installs OpenMM into
.venv-openmm and builds the Rust side), or:
  .venv-openmm/bin/python data/alanine_dipeptide/md_benchmark.py --boltzflow target/release/boltzflow

Rows: one OpenMM simulation against one boltzflow replica (`walkers: 1`), and boltzflow's batched
throughput (`--walkers` independent replicas in one batch, summed ns/day). Each side's timing
covers the integration steps only (OpenMM: `integrator.step` after a warm-up; boltzflow: the
stepping time it records in /md/wall_seconds, set-up and file writing excluded). The sides are
timed alternately, `--repeat` rounds, the best of each kept.

Sanity check of the two integrators (not a timing): the mean potential energy at 300 K, from
OpenMM's and boltzflow's batched runs.
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
KB = 0.0083144626  # kJ/mol/K, as the plugin


def start_positions():
    return np.loadtxt(os.path.join(HERE, "aldp_min_energy.csv"), delimiter=",", skiprows=1)[:, 1:]


def openmm_md(steps, threads, sample_every=0):
    """ns/day of `steps` steps (after 1000 warm-up steps) and, if sample_every, the potential
    energies every sample_every steps (kJ/mol)."""
    with open(os.path.join(HERE, "system.xml")) as f:
        system = openmm.XmlSerializer.deserialize(f.read())
    integrator = openmm.LangevinMiddleIntegrator(
        300 * unit.kelvin, 1.0 / unit.picosecond, 1.0 * unit.femtosecond)
    integrator.setRandomNumberSeed(1)
    platform = openmm.Platform.getPlatformByName("CPU")
    properties = {"Threads": str(threads)} if threads else {}
    context = openmm.Context(system, integrator, platform, properties)
    threads = platform.getPropertyValue(context, "Threads")
    context.setPositions(start_positions())
    context.setVelocitiesToTemperature(300 * unit.kelvin, 1)
    integrator.step(1000)
    energies = []
    start = time.perf_counter()
    if sample_every:
        for _ in range(steps // sample_every):
            integrator.step(sample_every)
            state = context.getState(getEnergy=True)
            energies.append(state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole))
    else:
        integrator.step(steps)
    elapsed = time.perf_counter() - start
    return steps * 1e-6 / elapsed * 86400, np.array(energies), threads


def boltzflow_md(binary, steps, walkers, threads, save_every=1000):
    """(ns/day per replica, ns/day all replicas, potential energies of the frames in kJ/mol)."""
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "md.ron")
        with open(config, "w") as f:
            f.write(f"""Md(
    system: "{os.path.join(HERE, 'system.ron')}",
    temperatures: [300.0],
    timestep_fs: 1.0,
    friction_per_ps: 1.0,
    steps: {steps},
    equilibration_steps: 1000,
    save_every: {save_every},
    walkers: {walkers},
    seed: 1,
    start: "{os.path.join(HERE, 'aldp_min_energy.csv')}",
)""")
        out = os.path.join(tmp, "md.h5")
        env = dict(os.environ, **({"RAYON_NUM_THREADS": str(threads)} if threads else {}))
        result = subprocess.run([binary, "md", config, "--output", out],
                                capture_output=True, text=True, cwd=ROOT, env=env)
        if result.returncode != 0:
            sys.exit(f"boltzflow md failed:\n{result.stderr}")
        with h5py.File(out, "r") as f:
            md = f["md"].attrs
            return (float(md["ns_per_day"]), float(md["ns_per_day_all_replicas"]),
                    f["samples/u"][:] * KB * 300.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boltzflow", default=os.path.join(ROOT, "target", "release", "boltzflow"))
    parser.add_argument("--steps", type=int, default=50000, help="timed steps per run")
    parser.add_argument("--walkers", type=int, default=32, help="replicas of the batched run")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    print("alanine dipeptide (Amber ff96 + OBC1, 22 atoms, no constraints), Langevin 300 K, "
          "1 fs, friction 1/ps")
    print(f"machine: {os.cpu_count()} logical cores; OpenMM {openmm.__version__} CPU platform")
    for threads in [1, 0]:
        omm, rs = 0.0, 0.0
        for _ in range(args.repeat):
            r, _, used = openmm_md(args.steps, threads)
            omm = max(omm, r)
            r, _, _ = boltzflow_md(args.boltzflow, args.steps, 1, threads)
            rs = max(rs, r)
        r_batch, r_all, _ = boltzflow_md(args.boltzflow, args.steps // 4, args.walkers, threads)
        label = f"{threads} thread" if threads else f"default threads (OpenMM: {used})"
        print(f"[{label}] OpenMM one simulation:   {omm:10.0f} ns/day")
        print(f"[{label}] boltzflow one replica:   {rs:10.0f} ns/day   RATIO {rs / omm:.2f}x")
        print(f"[{label}] boltzflow {args.walkers} replicas batched: {r_all:10.0f} ns/day summed "
              f"({r_batch:.0f} per replica)   RATIO {r_all / omm:.2f}x")

    # Sanity check: mean potential energy at 300 K (200 ps OpenMM, 32 x 50 ps boltzflow).
    _, e_omm, _ = openmm_md(200_000, 1, sample_every=100)
    _, _, e_rs = boltzflow_md(args.boltzflow, 50_000, 32, 0, save_every=100)

    def mean_se(e, blocks=20):
        b = np.array_split(e, blocks)
        m = np.array([x.mean() for x in b])
        return e.mean(), m.std(ddof=1) / np.sqrt(blocks)

    (m1, s1), (m2, s2) = mean_se(e_omm), mean_se(e_rs)
    print(f"mean potential energy at 300 K: OpenMM {m1:.2f} +- {s1:.2f}, "
          f"boltzflow {m2:.2f} +- {s2:.2f} kJ/mol")


if __name__ == "__main__":
    main()
