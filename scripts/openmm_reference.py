"""An independent reference for OpenMM energies: one fresh Reference-platform context per frame.

Evaluates an OpenMM System (XmlSerializer XML) at each frame of a positions file, one by one,
each in a new context on OpenMM's double-precision Reference platform, and writes reduced
energies and gradients at the given temperature to an .npz:

    u      (n,)          E / (k_B T)
    grad   (n, 3*atoms)  -F / (k_B T), per nm
    positions (n, 3*atoms) the frames, in nm (atom-major: x[3*i + k])
    temperature_kelvin   T

with k_B = 0.0083144626 kJ/mol/K. Positions come from `--positions FILE`, an .npy array or an
HDF5 dataset (`--dataset`, default "positions") of shape (n, 3*atoms) or (n, atoms, 3), in nm;
or from `--perturb K SEED`: K copies of the PDB's positions with independent Gaussian noise of
0.01 nm (`--noise`) on every coordinate, reproducible from SEED.

Nothing here shares code with examples/python/openmm_energy.py, which it is meant to check.

    python3 scripts/openmm_reference.py --xml data/alanine_dipeptide_gbn2/system.xml \\
        --pdb data/alanine_dipeptide_gbn2/topology.pdb --temperature 300 \\
        --perturb 8 1 --output runs/gbn2_reference.npz

Needs `pip install openmm numpy` (and h5py for HDF5 input).
"""

import argparse

import numpy as np
import openmm
import openmm.app as app
import openmm.unit as unit

K_B = 0.0083144626  # kJ/mol/K


def read_positions(path, dataset, atoms):
    """Positions (n, 3*atoms) in nm from an .npy file or an HDF5 dataset."""
    if path.endswith(".npy"):
        x = np.load(path)
    else:
        import h5py

        with h5py.File(path, "r") as f:
            x = f[dataset][()]
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3 and x.shape[1:] == (atoms, 3):
        x = x.reshape(len(x), 3 * atoms)
    if x.ndim != 2 or x.shape[1] != 3 * atoms:
        raise SystemExit(f"{path}: positions of shape {x.shape}; expected (n, {3 * atoms}) "
                         f"or (n, {atoms}, 3)")
    return x


def perturbed_positions(pdb, frames, seed, noise):
    """`frames` copies of the PDB positions (nm) plus Gaussian noise of `noise` nm."""
    x0 = np.array(pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer)).reshape(-1)
    rng = np.random.default_rng(seed)
    return x0 + noise * rng.standard_normal((frames, x0.size))


def evaluate(system, x, temperature):
    """Reduced energies (n,) and gradients (n, dim): a fresh Reference context per frame."""
    kt = K_B * temperature
    platform = openmm.Platform.getPlatformByName("Reference")
    u = np.empty(len(x))
    grad = np.empty_like(x)
    for i, frame in enumerate(x):
        context = openmm.Context(system, openmm.VerletIntegrator(0.001), platform)
        context.setPositions([openmm.Vec3(*p) for p in frame.reshape(-1, 3)] * unit.nanometer)
        state = context.getState(getEnergy=True, getForces=True)
        energy = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
        forces = state.getForces(asNumpy=True).value_in_unit(
            unit.kilojoule_per_mole / unit.nanometer)
        u[i] = energy / kt
        grad[i] = -np.asarray(forces).reshape(-1) / kt
    return u, grad


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--xml", required=True, help="OpenMM System XML (XmlSerializer)")
    parser.add_argument("--pdb", required=True, help="PDB of the same atoms, same order")
    parser.add_argument("--temperature", type=float, required=True, help="T in kelvin")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--positions", help=".npy or HDF5 file of positions in nm")
    source.add_argument("--perturb", nargs=2, type=int, metavar=("K", "SEED"),
                        help="K frames of PDB positions plus Gaussian noise, seeded by SEED")
    parser.add_argument("--dataset", default="positions", help="HDF5 dataset of --positions")
    parser.add_argument("--noise", type=float, default=0.01, help="--perturb noise, nm")
    parser.add_argument("--output", required=True, help=".npz to write")
    args = parser.parse_args()

    with open(args.xml) as f:
        system = openmm.XmlSerializer.deserialize(f.read())
    pdb = app.PDBFile(args.pdb)
    atoms = system.getNumParticles()
    if pdb.topology.getNumAtoms() != atoms:
        raise SystemExit(f"{args.xml} has {atoms} particles, {args.pdb} "
                         f"{pdb.topology.getNumAtoms()} atoms")
    if args.positions:
        x = read_positions(args.positions, args.dataset, atoms)
    else:
        x = perturbed_positions(pdb, *args.perturb, args.noise)

    u, grad = evaluate(system, x, args.temperature)
    np.savez(args.output, u=u, grad=grad, positions=x,
             temperature_kelvin=np.float64(args.temperature))
    print(f"wrote {args.output}: {len(x)} frames, u in [{u.min():.6f}, {u.max():.6f}] "
          f"(OpenMM {openmm.__version__}, Reference platform)")


if __name__ == "__main__":
    main()
