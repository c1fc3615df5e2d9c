"""OpenMM energies for boltzflow's `python` plugin: any serialised OpenMM System plus its PDB.

Reads an OpenMM `System` written by `openmm.XmlSerializer` and the PDB of the same molecule (atom
names, residues, elements and bonds, in the System's particle order), and evaluates batches of
positions through a pool of OpenMM contexts, one thread each, the batch split evenly between
them. Positions are in nm, atom-major (x[3*i + k]), so DIM = 3 * atoms. Energies and forces come
from OpenMM in kJ/mol and kJ/mol/nm and are returned in reduced units at the configured
temperature: u = E / (k_B T), grad = -F / (k_B T). Frames with a non-finite coordinate get NaN
energy and gradient without reaching OpenMM.

Config keys (paths are relative to the system file's folder, the worker's working directory):
  xml                 OpenMM System XML (required)
  pdb                 PDB of the same atoms, in the same order (required)
  temperature_kelvin  temperature T of u = E / (k_B T), in kelvin (required)
  platform            OpenMM platform name; default "CPU" where OpenMM has it, else "Reference".
                      "Reference" evaluates in double precision (slower); "CPU" in mixed precision.
  contexts            number of OpenMM contexts (and threads) in the pool; default: the CPU
                      threads available to the process. On the CPU platform each context uses
                      one thread.
  name                system name reported in the metadata; default: the `xml` path

metadata() reports the molecule (atoms with masses from the System, bonds from the PDB topology)
and the backbone dihedrals phi (C-1, N, CA, C) and psi (N, CA, C, N+1) of every residue that has
them, named "phi" and "psi" when there is one of each, "phi_<residue>"/"psi_<residue>"
(residue index from 0) otherwise.

Example system file (data/alanine_dipeptide_gbn2/system_python.ron):

    System(plugin: "python", config: (
        file: "../../examples/python/openmm_energy.py",
        xml: "system.xml",
        pdb: "topology.pdb",
        temperature_kelvin: 300.0,
    ))
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import openmm
import openmm.app as app
import openmm.unit as unit

# Boltzmann constant in kJ/mol/K, the value boltzflow's plugins use.
K_B = 0.0083144626

KNOWN_KEYS = ("xml", "pdb", "temperature_kelvin", "platform", "contexts", "name")

DIM = None  # number of coordinates, 3 * atoms; set by setup()

# Set by setup(): the pool of contexts, the thread pool that drives it, 1 / (k_B T) in mol/kJ,
# the PDB topology, the System and the resolved parameters for metadata().
_contexts = []
_executor = None
_beta = None
_topology = None
_system = None
_parameters = None


def setup(config):
    """Reads the System and PDB, checks that they match and creates the pool of contexts."""
    global DIM, _contexts, _executor, _beta, _topology, _system, _parameters

    unknown = sorted(set(config) - set(KNOWN_KEYS))
    if unknown:
        raise ValueError(f"unknown config key(s) {', '.join(unknown)}; "
                         f"openmm_energy.py accepts {', '.join(KNOWN_KEYS)}")
    for key in ("xml", "pdb", "temperature_kelvin"):
        if key not in config:
            raise ValueError(f"config key '{key}' is required")
    for key in ("xml", "pdb", "name"):
        if key in config and not isinstance(config[key], str):
            raise ValueError(f"{key} must be a string, not {config[key]!r}")
    xml_path, pdb_path = config["xml"], config["pdb"]

    temperature = config["temperature_kelvin"]
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not 0 < temperature < float("inf"):
        raise ValueError(f"temperature_kelvin must be a positive number of kelvin, "
                         f"not {temperature!r}")
    _beta = 1.0 / (K_B * temperature)

    _system = _read_system(xml_path)
    _topology = _read_pdb(pdb_path).topology
    particles, atoms = _system.getNumParticles(), _topology.getNumAtoms()
    if particles != atoms:
        raise ValueError(f"xml: {xml_path} has {particles} particles but pdb: {pdb_path} has "
                         f"{atoms} atoms; they must describe the same atoms in the same order")
    # A virtual site's position follows from other atoms; taking it as a free coordinate would
    # give wrong energies, so such systems are refused.
    virtual = [i for i in range(particles) if _system.isVirtualSite(i)]
    if virtual:
        raise ValueError(f"xml: {xml_path} has {len(virtual)} virtual site(s) (first: particle "
                         f"{virtual[0]}); openmm_energy.py supports only systems without them")

    platform = _platform(config.get("platform"))
    size = config.get("contexts", _available_threads())
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"contexts must be a positive integer, not {size!r}")
    properties = {"Threads": "1"} if platform.getName() == "CPU" else {}
    # Each context gets its own integrator (never stepped: contexts only evaluate).
    _contexts = [openmm.Context(_system, openmm.VerletIntegrator(0.001), platform, properties)
                 for _ in range(size)]
    _executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="openmm")

    DIM = 3 * particles
    _parameters = {
        "name": config.get("name", xml_path),
        "xml": xml_path,
        "pdb": pdb_path,
        "temperature_kelvin": float(temperature),
        "platform": platform.getName(),
        "contexts": size,
        "openmm_version": openmm.__version__,
    }


def energy(x):
    """Reduced energies u (n,) and gradients grad (n, DIM) of the positions x (n, DIM), in nm."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != DIM:
        raise ValueError(f"positions of shape {x.shape}; expected (n, {DIM})")
    n = x.shape[0]
    u = np.full(n, np.nan)
    grad = np.full((n, DIM), np.nan)
    # Frames with a non-finite coordinate keep NaN; the others are split into contiguous chunks,
    # one per context, and each thread writes only its own rows of u and grad.
    finite = np.flatnonzero(np.isfinite(x).all(axis=1))
    chunks = [c for c in np.array_split(finite, len(_contexts)) if len(c)]
    jobs = [_executor.submit(_evaluate, context, x, rows, u, grad)
            for context, rows in zip(_contexts, chunks)]
    for job in jobs:
        job.result()  # re-raises an error from the thread
    return u, grad


def metadata():
    """The system's name, units, parameters and molecule (atoms, bonds, phi/psi dihedrals)."""
    forces = ", ".join(type(f).__name__ for f in _system.getForces())
    atoms = [{
        "name": atom.name,
        "element": atom.element.symbol if atom.element is not None else "",
        "mass": _system.getParticleMass(atom.index).value_in_unit(unit.dalton),
        "residue": atom.residue.name,
        "residue_index": atom.residue.index,
    } for atom in _topology.atoms()]
    pairs = {(min(a.index, b.index), max(a.index, b.index)) for a, b in _topology.bonds()}
    bonds = [list(pair) for pair in sorted(pairs)]
    return {
        "system": _parameters["name"],
        "description": f"OpenMM System {_parameters['xml']} ({forces}) on the "
                       f"{_parameters['platform']} platform, u = E/(k_B T)",
        "temperature_kelvin": _parameters["temperature_kelvin"],
        "energy_unit": "kJ/mol",
        "parameters": _parameters,
        "molecule": {
            "atoms": atoms,
            "bonds": bonds,
            "dihedrals": _backbone_dihedrals(_topology, bonds),
        },
    }


def _evaluate(context, x, rows, u, grad):
    """Evaluates the frames `rows` of x in `context`, writing u[rows] and grad[rows]."""
    for i in rows:
        context.setPositions(x[i].reshape(-1, 3))
        state = context.getState(getEnergy=True, getForces=True)
        e = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
        f = state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)
        u[i] = _beta * e
        grad[i] = -_beta * np.asarray(f).reshape(-1)


def _read_system(path):
    """The OpenMM System serialised in the file `path`."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"xml: {path} not found (relative to {os.getcwd()})")
    with open(path) as f:
        text = f.read()
    try:
        system = openmm.XmlSerializer.deserialize(text)
    except Exception as e:
        raise ValueError(f"xml: {path} is not a serialised OpenMM System: {e}") from None
    if not isinstance(system, openmm.System):
        raise ValueError(f"xml: {path} holds a serialised {type(system).__name__}, "
                         f"not an OpenMM System")
    return system


def _read_pdb(path):
    """The PDB file `path`, read by OpenMM."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pdb: {path} not found (relative to {os.getcwd()})")
    try:
        return app.PDBFile(path)
    except Exception as e:
        raise ValueError(f"pdb: {path} could not be read as a PDB file: {e}") from None


def _platform(name):
    """The OpenMM platform `name`, or CPU (else Reference) when `name` is None."""
    available = [openmm.Platform.getPlatform(i).getName()
                 for i in range(openmm.Platform.getNumPlatforms())]
    if name is None:
        name = "CPU" if "CPU" in available else "Reference"
    if name not in available:
        raise ValueError(f"platform '{name}' is not available in this OpenMM; "
                         f"it has {', '.join(available)}")
    return openmm.Platform.getPlatformByName(name)


def _available_threads():
    """The number of CPU threads this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _backbone_dihedrals(topology, bonds):
    """phi (C-1, N, CA, C) and psi (N, CA, C, N+1) of each residue that has them, where the
    peptide bond to the neighbouring residue exists; named as boltzflow's molecular plugin does."""
    index = {}  # (residue index, atom name) -> the first such atom
    for atom in topology.atoms():
        index.setdefault((atom.residue.index, atom.name), atom.index)
    bonded = {tuple(b) for b in bonds}

    def peptide_bond(c, n):
        return c is not None and n is not None and (min(c, n), max(c, n)) in bonded

    phi, psi = [], []
    for res in range(topology.getNumResidues()):
        n, ca, c = (index.get((res, name)) for name in ("N", "CA", "C"))
        if n is None or ca is None or c is None:
            continue
        prev_c = index.get((res - 1, "C"))
        if res > 0 and peptide_bond(prev_c, n):
            phi.append((res, [prev_c, n, ca, c]))
        next_n = index.get((res + 1, "N"))
        if peptide_bond(c, next_n):
            psi.append((res, [n, ca, c, next_n]))
    single = len(phi) <= 1 and len(psi) <= 1
    return [{"name": base if single else f"{base}_{res}", "atoms": atoms}
            for base, found in (("phi", phi), ("psi", psi)) for res, atoms in found]
