#!/usr/bin/env python3
"""Regenerates fixtures.h5: OpenMM Reference-platform energies and forces of alanine dipeptide.

The Rust tests (tests/molecular.rs) compare boltzflow's `molecular` plugin against these numbers;
CI reads the committed file and never needs OpenMM.

Conformations (reproducible from the seeds below):
  kind 0  MD frames at 300 K (Langevin, from the minimum-energy structure)
  kind 1  MD frames at 1000 K
  kind 2  MD frames with Gaussian noise on every coordinate (strained bonds and angles)
  kind 3  MD frames with one non-bonded pair pushed to 0.3-0.8 of its LJ sigma (near-overlap)
  kind 4  MD frames with one hydrogen pushed to 0.001-0.008 nm from its bonded heavy atom, inside
          that atom's (scaled) Born sphere: the buried-atom branches of the GB integrals

Layout of fixtures.h5 (all float64, lengths in nm, energies in kJ/mol, forces in kJ/mol/nm):
  /<set>/positions         [n, 22, 3]
  /<set>/kind              [n] int, as above
  /<set>/energy            [n] total potential energy
  /<set>/forces            [n, 22, 3] total forces
  /<set>/terms/<Force>/energy, /<set>/terms/<Force>/forces   one per force (OpenMM force groups),
                           <Force> is the force's name in the XML (e.g. NonbondedForce)
  /<set>/phi, /<set>/psi   [n] dihedrals (4,6,8,14) and (6,8,14,16) in radians, by mdtraj
  /<set>/chirality         [n] (N-CA).((C-CA)x(CB-CA)) with N=6, CA=8, C=14, CB=10, in nm^3
  /<set>/obc_buried        (obc2 only) [n] 1 where some atom i lies inside the scaled sphere of
                           another (offset radius_i < scaled radius_j - r_ij): there OpenMM's
                           Reference GBSAOBCForce forces omit the derivative of its buried-atom
                           correction term, so they are not the exact gradient of its energy
  sets: obc1 (system.xml, the FAB system) and obc2 (system_obc2.xml)
  root attributes: openmm_version, platform, precision, seed

Usage: .venv-openmm/bin/python data/alanine_dipeptide/make_fixtures.py
"""

import os
import xml.etree.ElementTree as ET

import h5py
import mdtraj
import numpy as np
import openmm
import openmm.app as app
import openmm.unit as unit

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20231
N_300K, N_1000K, N_NOISE, N_OVERLAP, N_BURIED = 150, 150, 40, 40, 20
N_OBC2_EACH = 10  # frames of each kind for the OBC2 set
PHI, PSI = (4, 6, 8, 14), (6, 8, 14, 16)


def load(name):
    with open(os.path.join(HERE, name)) as f:
        return openmm.XmlSerializer.deserialize(f.read())


def force_names(system):
    return [f.getName() for f in system.getForces()]


def md_frames(system, positions, temperature, step_fs, n_frames, stride_ps, seed):
    """n_frames positions from Langevin dynamics at `temperature`, one every stride_ps."""
    integrator = openmm.LangevinMiddleIntegrator(temperature * unit.kelvin, 1.0 / unit.picosecond,
                                                 step_fs * unit.femtosecond)
    integrator.setRandomNumberSeed(seed)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("CPU"))
    context.setPositions(positions)
    context.setVelocitiesToTemperature(temperature * unit.kelvin, seed)
    steps = int(round(stride_ps * 1000.0 / step_fs))
    integrator.step(10 * steps)  # equilibration
    frames = []
    for _ in range(n_frames):
        integrator.step(steps)
        frames.append(context.getState(getPositions=True).getPositions(asNumpy=True)
                      .value_in_unit(unit.nanometer))
    return np.array(frames)


def nonbonded_sigmas_and_exclusions(system):
    nb = [f for f in system.getForces() if isinstance(f, openmm.NonbondedForce)][0]
    sig = np.array([nb.getParticleParameters(i)[1].value_in_unit(unit.nanometer)
                    for i in range(system.getNumParticles())])
    excluded = set()
    for k in range(nb.getNumExceptions()):
        i, j = nb.getExceptionParameters(k)[:2]
        excluded.add((min(i, j), max(i, j)))
    return sig, excluded


def too_close(x, sig, excluded, ratio, min_excluded, atoms=None):
    """Whether a non-excluded pair is closer than ratio * sigma_ij, or an excluded pair (bonded
    neighbours) closer than min_excluded nm; only pairs with an atom in `atoms` if given."""
    n = len(x)
    for i in range(n):
        for j in range(i + 1, n):
            if atoms is not None and i not in atoms and j not in atoms:
                continue
            r = np.linalg.norm(x[i] - x[j])
            if (i, j) in excluded:
                if r < min_excluded:
                    return True
            elif r < ratio * 0.5 * (sig[i] + sig[j]):
                return True
    return False


def distort(frames, rng, system):
    """Noisy (kind 2), near-overlapping (kind 3) and buried-hydrogen (kind 4) frames built from
    MD frames. Candidates where other atoms collide too are drawn again, so that energies stay
    below ~1e8 kJ/mol and forces below ~1e9 kJ/mol/nm, where a 1e-3 kJ/mol/nm comparison is
    still meaningful in double precision."""
    n = system.getNumParticles()
    sig, excluded = nonbonded_sigmas_and_exclusions(system)
    masses = [system.getParticleMass(i).value_in_unit(unit.dalton) for i in range(n)]
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if (i, j) not in excluded]
    bonds = []
    for f in system.getForces():
        if isinstance(f, openmm.HarmonicBondForce):
            bonds = [tuple(f.getBondParameters(b)[:2]) for b in range(f.getNumBonds())]
    h_bonds = [(h, c) if masses[h] < 2 else (c, h) for h, c in bonds if min(masses[h], masses[c]) < 2]

    def unit_vector():
        v = rng.normal(size=3)
        return v / np.linalg.norm(v)

    noisy, overlap, buried = [], [], []
    while len(noisy) < N_NOISE:
        x = frames[rng.integers(len(frames))] + rng.normal(0.0, 0.03, (n, 3))
        if not too_close(x, sig, excluded, 0.6, 0.05):
            noisy.append(x)
    while len(overlap) < N_OVERLAP:
        x = frames[rng.integers(len(frames))].copy()
        i, j = pairs[rng.integers(len(pairs))]
        x[j] = x[i] + rng.uniform(0.3, 0.8) * 0.5 * (sig[i] + sig[j]) * unit_vector()
        y = x.copy()
        y[i] = 1e3  # only look at the pairs of j with the other atoms
        if not too_close(y, sig, excluded, 0.9, 0.08, atoms={j}):
            overlap.append(x)
    while len(buried) < N_BURIED:
        x = frames[rng.integers(len(frames))].copy()
        h, c = h_bonds[rng.integers(len(h_bonds))]
        x[h] = x[c] + rng.uniform(0.001, 0.008) * unit_vector()
        y = x.copy()
        y[c] = 1e3
        if not too_close(y, sig, excluded, 0.9, 0.08, atoms={h}):
            buried.append(x)
    return np.array(noisy), np.array(overlap), np.array(buried)


def reference_evaluate(system, frames):
    """Total and per-force energies and forces on the Reference platform (double precision)."""
    system = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(system))
    names = force_names(system)
    for group, force in enumerate(system.getForces()):
        force.setForceGroup(group)
    context = openmm.Context(system, openmm.VerletIntegrator(1.0),
                             openmm.Platform.getPlatformByName("Reference"))
    out = {"energy": [], "forces": [], "terms": {name: {"energy": [], "forces": []} for name in names
                                                  if name != "CMMotionRemover"}}
    kj, kjnm = unit.kilojoule_per_mole, unit.kilojoule_per_mole / unit.nanometer
    for x in frames:
        context.setPositions(x)
        state = context.getState(getEnergy=True, getForces=True)
        out["energy"].append(state.getPotentialEnergy().value_in_unit(kj))
        out["forces"].append(state.getForces(asNumpy=True).value_in_unit(kjnm))
        for group, name in enumerate(names):
            if name in out["terms"]:
                state = context.getState(getEnergy=True, getForces=True, groups={group})
                out["terms"][name]["energy"].append(state.getPotentialEnergy().value_in_unit(kj))
                out["terms"][name]["forces"].append(state.getForces(asNumpy=True).value_in_unit(kjnm))
    return out


def obc_buried(system, frames):
    """Frames where some atom i has offset radius < scaled radius of j - r_ij (GBSAOBCForce)."""
    gb = [f for f in system.getForces() if isinstance(f, openmm.GBSAOBCForce)][0]
    params = [gb.getParticleParameters(i) for i in range(system.getNumParticles())]
    radius = np.array([p[1].value_in_unit(unit.nanometer) for p in params])
    scale = np.array([p[2] for p in params])
    offset = radius - 0.009
    scaled = offset * scale
    flags = []
    for x in frames:
        r = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=-1)
        np.fill_diagonal(r, np.inf)
        flags.append(int(np.any(offset[:, None] < scaled[None, :] - r)))
    return np.array(flags)


def chirality(frames):
    n, ca, c, cb = frames[:, 6], frames[:, 8], frames[:, 14], frames[:, 10]
    return np.einsum("ij,ij->i", n - ca, np.cross(c - ca, cb - ca))


def write_set(h5, name, system, topology, frames, kinds, extra=None):
    ref = reference_evaluate(system, frames)
    g = h5.create_group(name)
    opts = dict(compression="gzip", compression_opts=9, shuffle=True)
    g.create_dataset("positions", data=frames, **opts)
    g.create_dataset("kind", data=np.asarray(kinds, dtype=np.int32))
    g.create_dataset("energy", data=np.array(ref["energy"]))
    g.create_dataset("forces", data=np.array(ref["forces"]), **opts)
    for term, values in ref["terms"].items():
        t = g.create_group(f"terms/{term}")
        t.create_dataset("energy", data=np.array(values["energy"]))
        t.create_dataset("forces", data=np.array(values["forces"]), **opts)
    traj = mdtraj.Trajectory(frames, mdtraj.Topology.from_openmm(topology))
    angles = mdtraj.compute_dihedrals(traj, np.array([PHI, PSI]), periodic=False)
    # mdtraj's own backbone detection must agree with the indices above.
    phi_idx, _ = mdtraj.compute_phi(traj[:1])
    psi_idx, _ = mdtraj.compute_psi(traj[:1])
    assert tuple(phi_idx[0]) == PHI and tuple(psi_idx[0]) == PSI, (phi_idx, psi_idx)
    g.create_dataset("phi", data=angles[:, 0].astype(np.float64))
    g.create_dataset("psi", data=angles[:, 1].astype(np.float64))
    g.create_dataset("chirality", data=chirality(frames))
    for key, value in (extra or {}).items():
        g.create_dataset(key, data=value)
    e = np.array(ref["energy"])
    print(f"{name}: {len(frames)} frames, energy from {e.min():.3f} to {e.max():.6g} kJ/mol, "
          f"max |F| {np.abs(np.array(ref['forces'])).max():.3g} kJ/mol/nm")


def main():
    rng = np.random.default_rng(SEED)
    obc1, obc2 = load("system.xml"), load("system_obc2.xml")
    topology = app.PDBFile(os.path.join(HERE, "topology.pdb")).topology
    # Start from the exact minimum-energy structure, not the PDB's rounded copy.
    start = np.loadtxt(os.path.join(HERE, "aldp_min_energy.csv"), delimiter=",", skiprows=1)[:, 1:]

    md300 = md_frames(obc1, start, 300.0, 1.0, N_300K, 1.0, SEED + 1)
    md1000 = md_frames(obc1, start, 1000.0, 0.5, N_1000K, 1.0, SEED + 2)
    noisy, overlap, buried = distort(np.concatenate([md300, md1000]), rng, obc1)
    frames = np.concatenate([md300, md1000, noisy, overlap, buried])
    kinds = [0] * N_300K + [1] * N_1000K + [2] * N_NOISE + [3] * N_OVERLAP + [4] * N_BURIED

    # OBC2: a few frames of each kind, drawn from the same sets.
    k = N_OBC2_EACH
    pick = lambda a: a[rng.choice(len(a), k, replace=False)]
    frames2 = np.concatenate([pick(md300), pick(md1000), pick(noisy), pick(overlap), pick(buried)])
    kinds2 = [0] * k + [1] * k + [2] * k + [3] * k + [4] * k

    path = os.path.join(HERE, "fixtures.h5")
    with h5py.File(path, "w") as h5:
        h5.attrs["openmm_version"] = openmm.__version__
        h5.attrs["platform"] = "Reference"
        h5.attrs["precision"] = "double"
        h5.attrs["seed"] = SEED
        write_set(h5, "obc1", obc1, topology, frames, kinds)
        write_set(h5, "obc2", obc2, topology, frames2, kinds2,
                  {"obc_buried": obc_buried(obc2, frames2).astype(np.int32)})
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
