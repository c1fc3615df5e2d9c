#!/usr/bin/env python3
"""Reads a samples file analysed by `boltzflow analyze` with h5py and mdtraj, checks its
dihedrals against mdtraj's, and prints the reweighted basin populations.

    python examples/read_samples.py SAMPLES.h5 [--topology data/alanine_dipeptide/topology.pdb]

Positions come from /samples/positions [n, atoms, 3] (nm) or else /samples/x [n, 3 atoms].
mdtraj works in float32, so phi/psi agree with /dihedrals to about 1e-5 rad (compared modulo
2 pi: an angle near +-pi may come out on the other side of the cut). Needs h5py, mdtraj, numpy.
"""

import argparse
import os

import h5py
import mdtraj
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOLERANCE = 1e-5


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples")
    parser.add_argument(
        "--topology",
        default=os.path.join(HERE, "..", "data", "alanine_dipeptide", "topology.pdb"),
    )
    args = parser.parse_args()
    topology = mdtraj.load_topology(args.topology)
    with h5py.File(args.samples, "r") as f:
        if "positions" in f["samples"]:
            xyz = f["samples/positions"][()]
        else:
            xyz = f["samples/x"][()].reshape(-1, topology.n_atoms, 3)
        dihedrals = {name: f["dihedrals"][name][()] for name in f["dihedrals"]}
        atoms = {name: f["dihedrals"][name].attrs["atoms"] for name in f["dihedrals"]}
        estimates = dict(f["estimates"].attrs)
    traj = mdtraj.Trajectory(xyz, topology)
    ours = {"phi": mdtraj.compute_phi(traj), "psi": mdtraj.compute_psi(traj)}
    for name, (indices, angles) in ours.items():
        assert list(indices[0]) == list(atoms[name]), (name, indices[0], atoms[name])
        difference = np.angle(np.exp(1j * (angles[:, 0] - dihedrals[name])))
        worst = np.nanmax(np.abs(difference))
        print(f"{name}: {len(angles)} frames, largest |mdtraj - /dihedrals/{name}| = {worst:.2e} rad")
        assert worst < TOLERANCE, f"{name} disagrees with mdtraj by {worst} rad"
    for basin in ["pop_c7eq_beta", "pop_alpha_r", "pop_phi_pos"]:
        print(f"{basin}: {estimates[basin]:.4f} +- {estimates[basin + '_stderr']:.4f}")
    print(f"ess: {estimates.get('ess', float('nan')):.4f}, samples: {estimates['n_samples']}, "
          f"non-finite: {estimates['n_nonfinite']}")


if __name__ == "__main__":
    main()
