"""An independent reference for boltzflow's free-energy estimators: pymbar 4.

For two sets of 1-D harmonic states u_k(x) = kappa_k (x - mu_k)^2 / 2, exact samples are drawn
from each sampled state and every sample is evaluated at every state (u_kn). pymbar then gives

- MBAR's Delta f_ij, its asymptotic error (pymbar's default "svd-ew" method) and the overlap
  matrix, with a relative tolerance of 1e-12 on the solution;
- BAR between states 0 and 1 (pymbar.bar), and exponential averaging (pymbar.exp) in both
  directions, from the same samples.

Case "overlapping" has five states (one of them unsampled); case "separated" has six states
whose free energies span about 26 k_BT (offsets c_k) and whose end states barely overlap, where
the solver starts far from the answer. Nothing here shares code with src/free_energy/.

Run from the repository root (needs `pip install pymbar h5py`):

    python3 scripts/free_energy_reference.py

It rewrites src/free_energy/tests/fixtures/pymbar.h5; `src/free_energy/tests/reference.rs`
checks boltzflow against it.
"""

import os

import h5py
import numpy as np
import pymbar

OUT = os.path.join("src", "free_energy", "tests", "fixtures", "pymbar.h5")

CASES = {
    # name: (kappa_k, mu_k, c_k, N_k); u_k(x) = kappa_k (x - mu_k)^2 / 2 + c_k
    "overlapping": (
        [1.0, 2.0, 1.5, 4.0, 0.5],
        [0.0, 0.3, 0.5, 1.0, -0.5],
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [400, 300, 0, 500, 200],
    ),
    "separated": (
        [1.0, 10.0, 100.0, 1e3, 1e4, 1e5],
        [0.0] * 6,
        [0.0, 4.0, 8.0, 12.0, 16.0, 20.0],
        [300, 300, 300, 300, 300, 300],
    ),
}


def make_case(rng, kappa, mu, c, n_k):
    kappa, mu, c = np.asarray(kappa), np.asarray(mu), np.asarray(c)
    x = np.concatenate([rng.normal(mu[k], 1.0 / np.sqrt(kappa[k]), n) for k, n in enumerate(n_k)])
    return 0.5 * kappa[:, None] * (x[None, :] - mu[:, None]) ** 2 + c[:, None]


def main():
    rng = np.random.default_rng(20261205)
    with h5py.File(OUT, "w") as out:
        for name, (kappa, mu, c, n_k) in CASES.items():
            u_kn = make_case(rng, kappa, mu, c, n_k)
            n_k = np.asarray(n_k)
            mbar = pymbar.MBAR(u_kn, n_k, relative_tolerance=1e-12)
            diff = mbar.compute_free_energy_differences()
            overlap = mbar.compute_overlap()["matrix"]
            i0, i1 = 0, n_k[0]
            w_f = u_kn[1, i0:i1] - u_kn[0, i0:i1]
            w_r = u_kn[0, i1 : i1 + n_k[1]] - u_kn[1, i1 : i1 + n_k[1]]
            bar = pymbar.bar(w_f, w_r, relative_tolerance=1e-12)
            exp_f = pymbar.exp(w_f)
            exp_r = pymbar.exp(w_r)
            g = out.create_group(name)
            g["u_kn"] = u_kn
            g["n_k"] = n_k.astype(np.float64)
            g["exact_f"] = np.asarray(c) - 0.5 * np.log(2 * np.pi / np.asarray(kappa))
            g["mbar_delta_f"] = diff["Delta_f"]
            g["mbar_delta_f_stderr"] = diff["dDelta_f"]
            g["mbar_overlap"] = overlap
            g["bar"] = [bar["Delta_f"], bar["dDelta_f"]]
            g["exp_forward"] = [exp_f["Delta_f"], exp_f["dDelta_f"]]
            g["exp_reverse"] = [exp_r["Delta_f"], exp_r["dDelta_f"]]
            print(name, "MBAR Delta f 0->K-1:", diff["Delta_f"][0, -1], "+-", diff["dDelta_f"][0, -1])
    print("wrote", OUT)


if __name__ == "__main__":
    main()
