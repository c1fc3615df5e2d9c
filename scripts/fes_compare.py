#!/usr/bin/env python3
"""A learned (phi, psi) free-energy surface against the histogram free energy of MD samples.

Usage: fes_compare.py RUN_DIR/run.h5 MD_ANALYSIS.h5 [MORE_MD_ANALYSES.h5 ...] [--cutoff 15]

RUN_DIR/run.h5 is a potential-flow (or energy-model) run trained on two angles: its
/energy/grid holds the bin centres of a uniform grid over [-pi, pi)^2 and /energy/energy the
normalised -log p there. MD_ANALYSIS.h5 is a samples file after `boltzflow analyze`: its
/histograms/phi_psi density and stderr ([i, j] = phi bin i, psi bin j), the temperature of
/histograms/fes_phi_psi, and the basin populations in /estimates.

The learned density is averaged over the grid points inside each histogram bin (the grid must
refine the histogram's bins by a whole factor), so that both are bin averages. F = -k_B T ln p.
Reported over the bins where the MD free energy is below the cutoff (kJ/mol): the RMS
difference with both surfaces shifted to their minimum, and with the one additive constant that
minimises it (the mean difference), and the RMS of the differences divided by the MD
bins' standard errors (about 1 when the learned surface is within the MD noise). Then the
learned density's basin populations (C7eq/beta, alphaR, phi > 0, as `analyze` defines them),
summed over the grid (with their distances to the MD's in its standard errors), and FAB's Ramachandran KL of the MD histogram to the learned bin
densities (the same formula as `analyze --reference`, without the noise of samples), and that
KL's floor: its value for as many independent draws from the learned density as the MD has
frames.

Several MD files (independent runs of the same system and temperature, each analysed with the
same bins) are pooled as one reference: their (phi, psi) densities and basin populations are
averaged with weights proportional to their frame counts, and their standard errors combined
as those of independent runs' weighted mean.

--samples FILE names a samples file drawn from the learned energy (`boltzflow sample` of the
run: /samples/x holds (phi, psi)); FAB's Ramachandran KL of the MD histogram to the histogram of
those samples is printed too (it adds the samples' own noise to the KL of the bin densities).

--training FILES names the analysed MD files the surface was trained on (pooled the same
way). The learned populations carry their training data's statistical error, so the distance
of each population to the reference is then also given in the standard error of the difference
of two independent estimates, sqrt(se_training^2 + se_reference^2), and the learned
populations are compared with the training data's (how well the model fits its data).
"""
import argparse
import sys

import h5py
import numpy as np

BOLTZMANN = 0.0083144626  # kJ/mol/K, the plugins' value
POPULATIONS = ("pop_c7eq_beta", "pop_alpha_r", "pop_phi_pos")


def pooled_md(paths):
    """The frame-weighted mean of several analysed MD files' (phi, psi) densities and basin
    populations, with the standard errors of a weighted mean of independent runs."""
    runs = []
    for path in paths:
        with h5py.File(path, "r") as f:
            if "histograms/phi_psi" not in f:
                sys.exit(f"{path}: no (phi, psi) histogram; run `boltzflow analyze` on it first")
            temperature = f["histograms/fes_phi_psi"].attrs.get("temperature_kelvin")
            if temperature is None:
                sys.exit(f"{path}: the (phi, psi) histogram has no temperature; kJ/mol need one")
            estimates = f["estimates"].attrs
            runs.append({
                "frames": len(f["dihedrals/phi"]),
                "temperature": float(temperature),
                "density": f["histograms/phi_psi/density"][()],
                "stderr": f["histograms/phi_psi/stderr"][()],
                "populations": {name: (float(estimates[name]), float(estimates[name + "_stderr"]))
                                for name in POPULATIONS},
            })
    first = runs[0]
    for path, run in zip(paths, runs):
        if run["temperature"] != first["temperature"] or run["density"].shape != first["density"].shape:
            sys.exit(f"{path}: its temperature or bins differ from {paths[0]}'s; analyse every "
                     "file of one system with the same --bins")
    frames = sum(run["frames"] for run in runs)
    weights = [run["frames"] / frames for run in runs]

    def mean(values, errors):
        value = sum(w * v for w, v in zip(weights, values))
        error = np.sqrt(sum((w * e) ** 2 for w, e in zip(weights, errors)))
        return value, error

    density, stderr = mean([r["density"] for r in runs], [r["stderr"] for r in runs])
    populations = {
        name: mean([r["populations"][name][0] for r in runs],
                   [r["populations"][name][1] for r in runs])
        for name in POPULATIONS
    }
    return {"frames": frames, "temperature": first["temperature"], "density": density,
            "stderr": stderr, "populations": populations}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_h5")
    parser.add_argument("md_h5", nargs="+")
    parser.add_argument("--cutoff", type=float, default=15.0, help="kJ/mol")
    parser.add_argument("--samples", help="samples drawn from the learned energy")
    parser.add_argument("--training", nargs="+", default=[],
                        help="the analysed MD files the surface was trained on")
    args = parser.parse_args()

    md = pooled_md(args.md_h5)
    kbt = BOLTZMANN * md["temperature"]
    bins = md["density"].shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        f_md = -kbt * np.log(md["density"])
        f_md -= f_md[np.isfinite(f_md)].min()
        f_md_err = kbt * md["stderr"] / md["density"]
    print(f"MD reference: {md['frames']} frames from {len(args.md_h5)} file(s); populations "
          + ", ".join(f"{name} {value:.4f} +- {err:.4f}"
                      for name, (value, err) in md["populations"].items()))

    with h5py.File(args.run_h5, "r") as f:
        grid = f["energy/grid"][()]
        energy = f["energy/energy"][()]
    points = int(round(np.sqrt(len(energy))))
    if points * points != len(energy) or grid.shape != (len(energy), 2) or points % bins:
        sys.exit(
            f"{args.run_h5}: /energy/grid is not a square grid refining {bins} bins per axis"
        )
    width = 2 * np.pi / points
    index = np.floor((grid + np.pi) / width).astype(int)
    if index.min() < 0 or index.max() >= points:
        sys.exit(f"{args.run_h5}: /energy/grid is not over [-pi, pi)^2")
    density = np.zeros((points, points))
    density[index[:, 0], index[:, 1]] = np.exp(-energy)
    factor = points // bins
    p = density.reshape(bins, factor, bins, factor).mean(axis=(1, 3))
    f_learned = -kbt * np.log(p)
    f_learned -= f_learned.min()

    mask = np.isfinite(f_md) & (f_md < args.cutoff)
    diff = f_learned[mask] - f_md[mask]
    rms_min = np.sqrt(np.mean(diff**2))
    offset = diff.mean()
    rms_best = np.sqrt(np.mean((diff - offset) ** 2))
    err = f_md_err[mask]
    good = np.isfinite(err) & (err > 0)
    z = (diff - offset)[good] / err[good]
    print(f"bins with MD F < {args.cutoff} kJ/mol: {mask.sum()} of {bins * bins}")
    print(f"RMS difference, both at min 0: {rms_min:.3f} kJ/mol")
    print(f"RMS difference, best offset ({offset:+.3f}): {rms_best:.3f} kJ/mol")
    print(f"RMS of difference / MD stderr: {np.sqrt(np.mean(z**2)):.2f} over {good.sum()} bins")

    # The learned density's basin populations (on the grid: no sampling noise) and FAB's
    # Ramachandran KL of the MD histogram to the learned bin densities.
    centres = -np.pi + (np.arange(points) + 0.5) * width
    phi, psi = np.meshgrid(centres, centres, indexing="ij")
    mass = density / density.sum()
    psi_deg = np.degrees(psi)
    basins = {
        "pop_c7eq_beta": (phi < 0) & ~((psi_deg > -120) & (psi_deg < 50)),
        "pop_alpha_r": (phi < 0) & (psi_deg > -120) & (psi_deg < 50),
        "pop_phi_pos": phi >= 0,
    }
    learned = {name: mass[where].sum() for name, where in basins.items()}
    print("learned populations (distance to the MD's in its standard errors): " + ", ".join(
        f"{name} {value:.4f} ({(value - md['populations'][name][0]) / md['populations'][name][1]:+.1f})"
        for name, value in learned.items()))
    if args.training:
        training = pooled_md(args.training)["populations"]
        print(f"training data ({len(args.training)} file(s)): " + ", ".join(
            f"{name} {value:.4f} +- {err:.4f} (learned - training: "
            f"{(learned[name] - value) / err:+.1f} of its standard errors)"
            for name, (value, err) in training.items()))
        print("learned - reference in the standard error of the difference: " + ", ".join(
            f"{name} {(learned[name] - md['populations'][name][0]) / np.hypot(training[name][1], md['populations'][name][1]):+.1f}"
            for name in POPULATIONS))
    md_density = md["density"]
    area = (2 * np.pi / bins) ** 2
    q = p / (p.sum() * area)
    kl = np.sum(md_density * np.log((md_density + 1e-10) / (q + 1e-10))) * area
    print(f"Ramachandran KL(MD histogram || learned bin density), FAB's formula: {kl:.4f}")

    if args.samples:
        with h5py.File(args.samples, "r") as f:
            drawn = f["samples/x"][()]
        if drawn.ndim != 2 or drawn.shape[1] != 2:
            sys.exit(f"{args.samples}: /samples/x is not (phi, psi) pairs")
        edges = np.linspace(-np.pi, np.pi, bins + 1)
        wrapped = np.mod(drawn + np.pi, 2 * np.pi) - np.pi
        hist, _, _ = np.histogram2d(wrapped[:, 0], wrapped[:, 1], bins=[edges, edges], density=True)
        kl_samples = np.sum(md_density * np.log((md_density + 1e-10) / (hist + 1e-10))) * area
        print(f"Ramachandran KL(MD histogram || histogram of {len(drawn)} samples of the learned "
              f"energy): {kl_samples:.4f}")

    # The noise floor of that KL: the same formula for histograms of as many independent draws
    # from the learned bin density itself as the MD has frames. MD frames are correlated, so
    # the MD histogram's own floor is higher than this.
    frames = md["frames"]
    rng = np.random.default_rng(0)
    floors = []
    for _ in range(20):
        counts = rng.multinomial(frames, (p / p.sum()).ravel()).reshape(bins, bins)
        drawn = counts / (frames * area)
        floors.append(np.sum(drawn * np.log((drawn + 1e-10) / (q + 1e-10))) * area)
    print(f"the same KL for {frames} independent draws from the learned density: "
          f"{np.mean(floors):.4f} +- {np.std(floors):.4f} (the floor that the MD's frames allow)")


if __name__ == "__main__":
    main()
