#!/usr/bin/env python3
"""The density-ratio estimator's log q/p at every sample against the exact one.

Usage: dre_vs_exact.py OUT.h5 [--delta-f DF]

OUT.h5 is the output of `boltzflow free-energy` with a `Dre` estimator on two states whose
energies are known: /free_energy/u_kn holds each sample's reduced energy at both states (the
first state's samples first, /free_energy n_k of them), /ratios/log_ratio the estimator's
log q/p. The exact ratio is log q/p = u_P - u_Q + DF, where DF = f_Q - f_P is the exact
free-energy difference in k_BT (0, the default, for two normalised densities such as the
Gaussian benchmark's).

For each state's samples it prints the means of the exact and the estimated log q/p, the
least-squares line estimate = slope * exact + intercept with the spread about it (slope 1 and
spread 0 for an exact ratio; a slope below 1 is a compressed ratio, as a network that
extrapolates too flatly into the other state's tails gives), and the mean error in four bands
of the exact value (between its 1st, 10th, 50th, 90th and 99th percentiles). All samples are
used, those the networks trained on included.
"""

import argparse

import h5py
import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output")
    parser.add_argument("--delta-f", type=float, default=0.0)
    args = parser.parse_args()
    with h5py.File(args.output, "r") as f:
        estimate = f["ratios/log_ratio"][0]
        u = f["free_energy/u_kn"][:]
        n_first = int(f["free_energy"].attrs["n_k"][0])
    if u.shape[0] != 2:
        raise SystemExit(f"{args.output}: {u.shape[0]} states; this compares a pair")
    exact = u[0] - u[1] + args.delta_f
    for name, rows in [("P", slice(0, n_first)), ("Q", slice(n_first, None))]:
        e, l = exact[rows], estimate[rows]
        slope, intercept = np.polyfit(e, l, 1)
        spread = np.std(l - slope * e - intercept)
        print(
            f"{name}: mean exact {e.mean():.3f}, estimated {l.mean():.3f}; "
            f"slope {slope:.3f}, intercept {intercept:.3f}, spread {spread:.3f}"
        )
        edges = np.quantile(e, [0.01, 0.1, 0.5, 0.9, 0.99])
        for low, high in zip(edges[:-1], edges[1:]):
            band = (e >= low) & (e < high)
            print(f"   exact in [{low:.1f}, {high:.1f}): mean error {(l[band] - e[band]).mean():+.3f}")


if __name__ == "__main__":
    main()
