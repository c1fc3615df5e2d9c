#!/usr/bin/env python3
"""Regenerates the alanine dipeptide system files of this folder from OpenMM + openmmtools.

The system is the FAB paper's target, the openmmtools test system
`AlanineDipeptideImplicit(constraints=None)`: Amber ff96, OBC1 implicit solvent (which OpenMM's
`app` layer emits as a CustomGBForce), no cutoff, no constraints.

Writes, next to this script:
  system.xml        the System, serialised with openmm.XmlSerializer (OBC1 as a CustomGBForce)
  system_obc2.xml   the same molecule with implicitSolvent=OBC2 (a built-in GBSAOBCForce), for tests
  topology.pdb      the topology (atom names, residues, elements, bonds), with the coordinates of
                    the reference minimum-energy structure aldp_min_energy.csv

Usage (OpenMM is not needed by CI; the outputs are committed):
  python3 -m venv .venv-openmm
  .venv-openmm/bin/pip install openmm==8.6.1 openmmtools==0.27.0 h5py
  .venv-openmm/bin/python data/alanine_dipeptide/make_system.py
"""

import csv
import os

import numpy as np
import openmm
import openmm.app as app
import openmm.unit as unit

HERE = os.path.dirname(os.path.abspath(__file__))


def load_min_energy_positions():
    """The reference minimum-energy structure, [22, 3] in nm, in the system's atom order."""
    with open(os.path.join(HERE, "aldp_min_energy.csv")) as f:
        rows = list(csv.DictReader(f))
    rows.sort(key=lambda r: int(r["atom"]))
    return np.array([[float(r["x_nm"]), float(r["y_nm"]), float(r["z_nm"])] for r in rows])


def build_systems():
    """(OBC1 system, OBC2 system, topology), exactly as openmmtools builds its test system."""
    from openmmtools import testsystems
    from openmmtools.testsystems import get_data_filename

    aldp = testsystems.AlanineDipeptideImplicit(constraints=None)
    # The same prmtop with OBC2, which OpenMM maps to its built-in GBSAOBCForce.
    prmtop = app.AmberPrmtopFile(
        get_data_filename("data/alanine-dipeptide-gbsa/alanine-dipeptide.prmtop"))
    obc2 = prmtop.createSystem(implicitSolvent=app.OBC2, constraints=None, nonbondedCutoff=None)
    return aldp.system, obc2, aldp.topology


def main():
    obc1, obc2, topology = build_systems()
    kinds = [type(f).__name__ for f in obc1.getForces()]
    assert kinds == ["HarmonicBondForce", "HarmonicAngleForce", "PeriodicTorsionForce",
                     "NonbondedForce", "CustomGBForce", "CMMotionRemover"], kinds
    assert "GBSAOBCForce" in [type(f).__name__ for f in obc2.getForces()]
    assert obc1.getNumConstraints() == 0 and obc2.getNumConstraints() == 0

    with open(os.path.join(HERE, "system.xml"), "w") as f:
        f.write(openmm.XmlSerializer.serialize(obc1))
    with open(os.path.join(HERE, "system_obc2.xml"), "w") as f:
        f.write(openmm.XmlSerializer.serialize(obc2))

    positions = load_min_energy_positions()
    assert positions.shape == (topology.getNumAtoms(), 3)
    with open(os.path.join(HERE, "topology.pdb"), "w") as f:
        app.PDBFile.writeFile(topology, positions * unit.nanometer, f, keepIds=True)

    context = openmm.Context(obc1, openmm.VerletIntegrator(1.0),
                             openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(positions)
    energy = context.getState(getEnergy=True).getPotentialEnergy()
    print(f"wrote system.xml, system_obc2.xml, topology.pdb; "
          f"E(min-energy structure) = {energy.value_in_unit(unit.kilojoule_per_mole):.6f} kJ/mol "
          f"(OpenMM {openmm.__version__})")


if __name__ == "__main__":
    main()
