#!/usr/bin/env python3
"""Writes the system files of the Gaussian mutual-information benchmark (the density-ratio
estimator's exact test):

- examples/systems/gaussian_blocks_d{D}.ron: P = N(0, Σ), Σ block-diagonal with 2×2 blocks
  [[1, ρ], [ρ, 1]], ρ = 0.8 (the joint of D/2 pairs of correlated coordinates);
- examples/systems/gaussian_standard_d{D}.ron: Q = N(0, I) (the product of P's marginals).

KL(P‖Q) is P's mutual information between the first and second coordinates of its pairs:
−(D/4)·ln(1 − ρ²), 10.2165 nats at D = 40 and 20.4330 at D = 80. Run from the repository root:

    python3 scripts/make_gaussian_mi_systems.py 4 40 80
"""
import math
import sys

RHO = 0.8


def matrix(d, correlated):
    rows = []
    for i in range(d):
        row = [0.0] * d
        row[i] = 1.0
        if correlated:
            row[i ^ 1] = RHO
        rows.append("[" + ", ".join(f"{v:g}" for v in row) + "]")
    return "[\n            " + ",\n            ".join(rows) + ",\n        ]"


def write(d, correlated):
    name = "blocks" if correlated else "standard"
    kl = -(d / 4) * math.log(1 - RHO**2)
    what = (
        f"P = N(0, Σ), Σ block-diagonal with {d // 2} 2×2 blocks of correlation {RHO}"
        if correlated
        else "Q = N(0, I)"
    )
    text = f"""// {what}, d = {d}.
// The Gaussian mutual-information benchmark: KL(P‖Q) = −(d/4)·ln(1 − ρ²) = {kl:.4f} nats between
// gaussian_blocks_d{d}.ron (P) and gaussian_standard_d{d}.ron (Q). Normalised: log Z = 0.
// Written by scripts/make_gaussian_mi_systems.py.
System(
    plugin: "gaussian-mixture",
    config: (
        means: [[{", ".join(["0.0"] * d)}]],
        covariances: [{matrix(d, correlated)}],
    ),
)
"""
    with open(f"examples/systems/gaussian_{name}_d{d}.ron", "w") as f:
        f.write(text)


for d in map(int, sys.argv[1:]):
    assert d % 2 == 0, "d must be even"
    write(d, True)
    write(d, False)
