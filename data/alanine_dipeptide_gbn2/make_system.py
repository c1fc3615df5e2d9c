#!/usr/bin/env python3
"""Writes the alanine dipeptide system with GBn2 implicit solvent of this folder from OpenMM.

The molecule of ../alanine_dipeptide (same PDB: atom names, order and bonds) with Amber ff14SB
(`amber14-all.xml`) and the GBn2 implicit-solvent model (`implicit/gbn2.xml`, Nguyen, Roe &
Simmerling 2013), no cutoff, no constraints. OpenMM emits GBn2 as a CustomGBForce that
boltzflow's native `molecular` plugin does not evaluate; `system_python.ron` evaluates it through
the `python` plugin and examples/python/openmm_energy.py.

Writes, next to this script:
  system.xml     the System, serialised with openmm.XmlSerializer
  topology.pdb   a copy of ../alanine_dipeptide/topology.pdb

Usage (OpenMM is not needed by CI; the outputs are committed):
  python3 -m venv .venv-openmm
  .venv-openmm/bin/pip install openmm==8.6.1 numpy
  .venv-openmm/bin/python data/alanine_dipeptide_gbn2/make_system.py
"""

import os
import shutil

import openmm
import openmm.app as app
import openmm.unit as unit

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_PDB = os.path.join(HERE, "..", "alanine_dipeptide", "topology.pdb")


def main():
    shutil.copyfile(SOURCE_PDB, os.path.join(HERE, "topology.pdb"))
    pdb = app.PDBFile(os.path.join(HERE, "topology.pdb"))
    forcefield = app.ForceField("amber14-all.xml", "implicit/gbn2.xml")
    system = forcefield.createSystem(pdb.topology, nonbondedMethod=app.NoCutoff,
                                     constraints=None, rigidWater=False)
    kinds = sorted(type(f).__name__ for f in system.getForces())
    assert kinds == ["CMMotionRemover", "CustomGBForce", "HarmonicAngleForce",
                     "HarmonicBondForce", "NonbondedForce", "PeriodicTorsionForce"], kinds
    assert system.getNumParticles() == pdb.topology.getNumAtoms() == 22
    assert system.getNumConstraints() == 0

    with open(os.path.join(HERE, "system.xml"), "w") as f:
        f.write(openmm.XmlSerializer.serialize(system))

    context = openmm.Context(system, openmm.VerletIntegrator(0.001),
                             openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(pdb.positions)
    energy = context.getState(getEnergy=True).getPotentialEnergy()
    print(f"wrote system.xml, topology.pdb; E(PDB structure) = "
          f"{energy.value_in_unit(unit.kilojoule_per_mole):.6f} kJ/mol "
          f"(OpenMM {openmm.__version__})")


if __name__ == "__main__":
    main()
