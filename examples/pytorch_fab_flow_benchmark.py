"""PyTorch counterpart of `examples/flow_step_benchmark.rs`: time per batch of FAB's
alanine-dipeptide flow (docs/benchmarks.md §5) on the CPU, so that BENCHMARKS.md can report the
burn/PyTorch ratio.

How to run (from the repository root):

    python3 -m venv .venv-torch
    .venv-torch/bin/pip install torch   # or: --index-url https://download.pytorch.org/whl/cpu
    .venv-torch/bin/python examples/pytorch_fab_flow_benchmark.py          # f32 and f64
    .venv-torch/bin/python examples/pytorch_fab_flow_benchmark.py f64      # one precision

The flow, written in plain torch (no normflows): base uniform on [-pi, pi) for the 12 circular
dihedrals x standard normal for the other 48 of the 60 internal coordinates; 12
rational-quadratic spline couplings (Durkan et al. 2019; 8 bins, circular splines on [-pi, pi]
with a learned shared end derivative on the angles, linear tails at +-5 elsewhere; same
parameterisation as `src/flow/spline.rs`: min bin size 1e-3, min derivative 1e-3, shifted
softplus), each conditioned by an MLP with hidden layers [256, 256], ReLU, residual connection
between the equal-width hidden layers, conditioning angles fed as (cos, sin), zero-initialised
output layer (identity flow); random masks transforming 30 of the 60 coordinates; a random
periodic shift of the angles every 2 layers; then an internal -> Cartesian layer (Z-matrix of
docs/benchmarks.md §5, atoms placed NeRF-style generation by generation, 4 generations; its inverse
computes all bonds/angles/dihedrals in one vectorised pass), with log-determinants.

OMP_WAIT_POLICY defaults to PASSIVE in this script (see below). Timings, batch 1024, median of 5
after a warm-up, torch.set_num_threads(RAYON_NUM_THREADS, else 2), so that one variable sets the
thread count of both sides:
(a) sample 1024 points with their log q under torch.no_grad();
(b) log q of 1024 given Cartesian points + backward of -mean(log q) w.r.t. the parameters.
"""

import math
import os
import pathlib
import statistics
import sys
import time

# With the default (spinning) OpenMP wait policy, on a loaded 2-core machine every parallel op
# can wait a whole scheduler time slice for a descheduled worker: 10x slower here. Passive
# waiting avoids that; set OMP_WAIT_POLICY=ACTIVE to see the default behaviour.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

BATCH = 1024
REPEATS = 5
BINS = 8
TAIL = 5.0
MIN_BIN = 1e-3
MIN_DERIV = 1e-3

# docs/benchmarks.md §5: atom -> (bond partner, angle partner, dihedral partner).
ZMATRIX = {
    0: (1, 4, 6), 1: (4, 6, 8), 2: (1, 4, 0), 3: (1, 4, 0), 4: (6, 8, 14), 5: (4, 6, 8),
    7: (6, 8, 4), 9: (8, 6, 4), 10: (8, 6, 4), 11: (10, 8, 6), 12: (10, 8, 11),
    13: (10, 8, 11), 15: (14, 8, 16), 16: (14, 8, 6), 17: (16, 14, 15), 18: (16, 14, 8),
    19: (18, 16, 14), 20: (18, 16, 19), 21: (18, 16, 19),
}
ROWS = list(ZMATRIX)  # 19 atoms
CIRCULAR_ATOMS = {0, 1, 4, 5, 7, 9, 10, 11, 16, 17, 18, 19}
N_ATOM, CA_ATOM, C_ATOM = 6, 8, 14


# ---------------------------------------------------------------- rational-quadratic spline
def _knots(raw):
    k = raw.shape[-1]
    sizes = torch.softmax(raw, -1) * (1 - k * MIN_BIN) + MIN_BIN
    inner = torch.cumsum(sizes, -1)[..., :-1]
    zero = torch.zeros_like(raw[..., :1])
    return torch.cat([zero, inner, zero + 1], -1)


def _derivs(raw):
    offset = math.log(math.exp(1 - MIN_DERIV) - 1)
    return F.softplus(raw + offset) + MIN_DERIV


def rq_spline(u, raw_w, raw_h, raw_d_inner, raw_d_end, inverse):
    """Monotone RQ spline of [0,1] onto itself per (point, coordinate); returns (image, log|g'|)."""
    xs, ys = _knots(raw_w), _knots(raw_h)
    end = raw_d_end.unsqueeze(-1)
    d = _derivs(torch.cat([end, raw_d_inner, end], -1))
    knots = ys if inverse else xs
    idx = (u.unsqueeze(-1) >= knots[..., 1:-1]).sum(-1, keepdim=True)
    g = lambda t: t.gather(-1, idx).squeeze(-1)
    x0, y0 = g(xs), g(ys)
    w = g(xs[..., 1:]) - x0
    h = g(ys[..., 1:]) - y0
    d0, d1 = g(d), g(d[..., 1:])
    s = h / w
    if not inverse:
        th = (u - x0) / w
        t1 = th * (1 - th)
        den = s + (d0 + d1 - 2 * s) * t1
        y = y0 + h * (s * th * th + d0 * t1) / den
        dy = s * s * (d1 * th * th + 2 * s * t1 + d0 * (1 - th) ** 2) / (den * den)
        return y, torch.log(dy)
    dyv = u - y0
    a = h * (s - d0) + dyv * (d0 + d1 - 2 * s)
    b = h * d0 - dyv * (d0 + d1 - 2 * s)
    c = -s * dyv
    disc = (b * b - 4 * a * c).clamp_min(0)
    th = 2 * c / (-b - torch.sqrt(disc))
    x = th * w + x0
    t1 = th * (1 - th)
    den = s + (d0 + d1 - 2 * s) * t1
    dy = s * s * (d1 * th * th + 2 * s * t1 + d0 * (1 - th) ** 2) / (den * den)
    return x, -torch.log(dy)


class Mlp(torch.nn.Module):
    def __init__(self, d_in, hidden, d_out):
        super().__init__()
        dims = [d_in] + hidden
        self.hidden = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(dims, dims[1:]))
        self.out = torch.nn.Linear(dims[-1], d_out)
        torch.nn.init.zeros_(self.out.weight)
        torch.nn.init.zeros_(self.out.bias)

    def forward(self, x):
        for layer in self.hidden:
            y = torch.relu(layer(x))
            x = x + y if y.shape[1] == x.shape[1] else y
        return self.out(x)


class SplineCoupling(torch.nn.Module):
    def __init__(self, mask, circular):
        super().__init__()
        dim = len(mask)
        cols = lambda tr, ang: [i for i in range(dim) if mask[i] == tr and circular[i] == ang]
        lin, ang = cols(True, False), cols(True, True)
        lin_c, ang_c = cols(False, False), cols(False, True)
        self.n_lin, self.n_ang, self.n_lin_c = len(lin), len(ang), len(lin_c)
        transformed, conditioning = lin + ang, lin_c + ang_c
        order = transformed + conditioning
        unsort = [0] * dim
        for pos, col in enumerate(order):
            unsort[col] = pos
        self.register_buffer("transformed", torch.tensor(transformed))
        self.register_buffer("conditioning", torch.tensor(conditioning))
        self.register_buffer("unsort", torch.tensor(unsort))
        lower = [-TAIL] * len(lin) + [-math.pi] * len(ang)
        width = [2 * TAIL] * len(lin) + [2 * math.pi] * len(ang)
        self.register_buffer("lower", torch.tensor(lower).unsqueeze(0))
        self.register_buffer("width", torch.tensor(width).unsqueeze(0))
        t = len(transformed)
        self.conditioner = Mlp(len(lin_c) + 2 * len(ang_c), [256, 256], t * (3 * BINS - 1) + len(ang))

    def transform(self, inp, inverse):
        kept = inp.index_select(1, self.conditioning)
        feats = [kept[:, : self.n_lin_c]]
        if kept.shape[1] > self.n_lin_c:
            angles = kept[:, self.n_lin_c :]
            feats += [torch.cos(angles), torch.sin(angles)]
        out = self.conditioner(torch.cat(feats, 1))
        n, t, k = out.shape[0], self.n_lin + self.n_ang, BINS
        per = out[:, : t * (3 * k - 1)].reshape(n, t, 3 * k - 1)
        ends = torch.cat([out.new_zeros(n, self.n_lin), out[:, t * (3 * k - 1) :]], 1)
        moved = inp.index_select(1, self.transformed)
        upper = self.lower + self.width
        inside = (moved >= self.lower) & (moved <= upper)
        unit = ((moved - self.lower) / self.width).clamp(0, 1)
        image, logd = rq_spline(unit, per[..., :k], per[..., k : 2 * k], per[..., 2 * k :], ends, inverse)
        moved = torch.where(inside, image * self.width + self.lower, moved)
        log_det = torch.where(inside, logd, torch.zeros_like(logd)).sum(1)
        return torch.cat([moved, kept], 1).index_select(1, self.unsort), log_det

    def forward(self, z):
        return self.transform(z, False)

    def inverse(self, x):
        return self.transform(x, True)


class PeriodicShift(torch.nn.Module):
    def __init__(self, circular, gen):
        super().__init__()
        off = [(torch.rand(1, generator=gen).item() * 2 - 1) * math.pi if c else 0.0 for c in circular]
        self.register_buffer("offset", torch.tensor(off).unsqueeze(0))
        self.register_buffer("angles", torch.tensor(circular).unsqueeze(0))

    def shift(self, x, sign):
        y = torch.remainder(x + sign * self.offset + math.pi, 2 * math.pi) - math.pi
        return torch.where(self.angles, y, x), x.new_zeros(x.shape[0])

    def forward(self, z):
        return self.shift(z, 1.0)

    def inverse(self, x):
        return self.shift(x, -1.0)


# ------------------------------------------------------------- internal <-> Cartesian
def _norm(v):
    return v / v.norm(dim=-1, keepdim=True)


def _angle(a, b, c):  # angle at b
    u, v = a - b, c - b
    return torch.atan2(torch.linalg.cross(u, v).norm(dim=-1), (u * v).sum(-1))


def _dihedral(a, b, c, d):
    b0, b1, b2 = a - b, c - b, d - c
    b1n = _norm(b1)
    v = b0 - (b0 * b1n).sum(-1, keepdim=True) * b1n
    w = b2 - (b2 * b1n).sum(-1, keepdim=True) * b1n
    return torch.atan2((torch.linalg.cross(b1n, v) * w).sum(-1), (v * w).sum(-1))


class InternalCoordinates(torch.nn.Module):
    """Internal z (60) -> Cartesian x (66). z = [bN, bC, angle N-CA-C, 19 bonds, 19 angles,
    19 dihedrals], normalised against the minimum-energy structure."""

    def __init__(self, reference):
        super().__init__()
        p = lambda j: torch.tensor([ZMATRIX[a][j] for a in ROWS])
        self.register_buffer("atoms", torch.tensor(ROWS))
        self.register_buffer("p1", p(0))
        self.register_buffer("p2", p(1))
        self.register_buffer("p3", p(2))
        circ = [a in CIRCULAR_ATOMS for a in ROWS]
        self.circular = [False] * 41 + circ
        scale = [0.005] * 2 + [0.15] + [0.005] * 19 + [0.15] * 19 + [1.0 if c else 0.2 for c in circ]
        self.register_buffer("scale", torch.tensor(scale).unsqueeze(0))
        self.log_scale = float(torch.tensor(scale).log().sum())
        self.register_buffer("ref", torch.zeros(1, 60))
        self.ref = self._raw_internal(reference.unsqueeze(0))[0].detach()
        # Generations: atoms whose three partners are all placed already.
        placed, self.generations = {N_ATOM, CA_ATOM, C_ATOM}, []
        while len(placed) < 22:
            gen = [a for a in ROWS if a not in placed and set(ZMATRIX[a]) <= placed]
            self.generations.append([ROWS.index(a) for a in gen])
            placed |= set(gen)

    def _raw_internal(self, x):
        ca = x[:, CA_ATOM]
        nv, cv = x[:, N_ATOM] - ca, x[:, C_ATOM] - ca
        xi = x.index_select(1, self.atoms)
        a1, a2, a3 = (x.index_select(1, p) for p in (self.p1, self.p2, self.p3))
        return torch.cat([
            nv.norm(dim=-1, keepdim=True), cv.norm(dim=-1, keepdim=True),
            _angle(x[:, N_ATOM], ca, x[:, C_ATOM]).unsqueeze(1),
            (xi - a1).norm(dim=-1), _angle(xi, a1, a2), _dihedral(xi, a1, a2, a3),
        ], 1)

    def inverse(self, x):  # Cartesian -> internal
        x = x.reshape(x.shape[0], 22, 3)
        raw = self._raw_internal(x)
        diff = raw - self.ref
        diff = torch.cat([diff[:, :41], torch.remainder(diff[:, 41:] + math.pi, 2 * math.pi) - math.pi], 1)
        z = diff / self.scale
        bonds, angles = raw[:, 3:22], raw[:, 22:41]
        log_det = 2 * bonds.log().sum(1) + angles.sin().log().sum(1) + raw[:, 1].log() + self.log_scale
        return z, -log_det

    def forward(self, z):  # internal -> Cartesian
        raw = self.ref + z * self.scale
        n = z.shape[0]
        pos = [None] * 22
        pos[CA_ATOM] = z.new_zeros(n, 3)
        zero = z.new_zeros(n)
        pos[N_ATOM] = torch.stack([raw[:, 0], zero, zero], 1)
        pos[C_ATOM] = torch.stack([raw[:, 1] * raw[:, 2].cos(), raw[:, 1] * raw[:, 2].sin(), zero], 1)
        r, th, ph = raw[:, 3:22], raw[:, 22:41], raw[:, 41:60]
        for gen in self.generations:
            g = torch.tensor(gen)
            a1 = torch.stack([pos[ZMATRIX[ROWS[i]][0]] for i in gen], 1)
            a2 = torch.stack([pos[ZMATRIX[ROWS[i]][1]] for i in gen], 1)
            a3 = torch.stack([pos[ZMATRIX[ROWS[i]][2]] for i in gen], 1)
            rg, tg, pg = r[:, g].unsqueeze(-1), th[:, g].unsqueeze(-1), ph[:, g].unsqueeze(-1)
            bc = _norm(a1 - a2)
            nn = _norm(torch.linalg.cross(a2 - a3, bc))
            m = torch.linalg.cross(nn, bc)
            new = a1 + rg * (-tg.cos() * bc + tg.sin() * pg.cos() * m + tg.sin() * pg.sin() * nn)
            for j, i in enumerate(gen):
                pos[ROWS[i]] = new[:, j]
        x = torch.stack(pos, 1).reshape(n, 66)
        log_det = 2 * r.log().sum(1) + th.sin().log().sum(1) + raw[:, 1].log() + self.log_scale
        return x, log_det


class Flow(torch.nn.Module):
    def __init__(self, reference):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.internal = InternalCoordinates(reference)
        circular = self.internal.circular
        self.register_buffer("circ", torch.tensor(circular))
        layers = []
        for i in range(12):
            mask = [False] * 60
            for j in torch.randperm(60, generator=gen)[:30].tolist():
                mask[j] = True
            layers.append(SplineCoupling(mask, circular))
            if i % 2 == 1:
                layers.append(PeriodicShift(circular, gen))
        self.layers = torch.nn.ModuleList(layers)
        self.n_circ = sum(circular)

    def base_log_prob(self, z):
        gauss = -0.5 * z * z - 0.5 * math.log(2 * math.pi)
        return torch.where(self.circ, torch.full_like(z, -math.log(2 * math.pi)), gauss).sum(1)

    def sample(self, n):
        z = torch.randn(n, 60)
        u = (torch.rand_like(z) * 2 - 1) * math.pi
        z = torch.where(self.circ, u, z)
        log_q = self.base_log_prob(z)
        for layer in self.layers:
            z, ld = layer.forward(z)
            log_q = log_q - ld
        x, ld = self.internal.forward(z)
        return x, log_q - ld

    def log_prob(self, x):
        z, total = self.internal.inverse(x)
        for layer in reversed(self.layers):
            z, ld = layer.inverse(z)
            total = total + ld
        return total + self.base_log_prob(z)


def bench(dtype):
    torch.set_default_dtype(dtype)
    torch.manual_seed(0)
    csv = pathlib.Path(__file__).resolve().parent.parent / "data/alanine_dipeptide/aldp_min_energy.csv"
    rows = [line.split(",")[1:] for line in csv.read_text().splitlines()[1:] if line.strip()]
    reference = torch.tensor([[float(v) for v in r] for r in rows])
    flow = Flow(reference)
    # Perturb the zero-initialised output layers so that the splines are not the identity
    # (identity splines would make the inverse's bin search trivially regular).
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.01 * torch.randn_like(p))
    with torch.no_grad():
        x, log_q = flow.sample(BATCH)  # warm-up, and points for the training direction
    assert torch.isfinite(log_q).all(), "non-finite log q"
    loss = -flow.log_prob(x).mean()  # warm-up of the training direction
    loss.backward()
    flow.zero_grad(set_to_none=True)
    sample_t, train_t = [], []
    for _ in range(REPEATS):
        start = time.perf_counter()
        with torch.no_grad():
            xs, lq = flow.sample(BATCH)
        sample_t.append(time.perf_counter() - start)

        start = time.perf_counter()
        loss = -flow.log_prob(x).mean()
        loss.backward()
        train_t.append(time.perf_counter() - start)
        flow.zero_grad(set_to_none=True)
    name = {torch.float32: "F32", torch.float64: "F64"}[dtype]
    print(
        f"FAB alanine flow (PyTorch {torch.__version__}), batch {BATCH}, {name}, "
        f"{torch.get_num_threads()} threads (OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}): sample + log q {statistics.median(sample_t):.3f} s, "
        f"log q + backward {statistics.median(train_t):.3f} s (median of {REPEATS})",
        flush=True,
    )


def main():
    # The same thread count as the burn side: RAYON_NUM_THREADS when set, else 2 (this machine).
    torch.set_num_threads(int(os.environ.get("RAYON_NUM_THREADS", "2")))
    wanted = sys.argv[1:] or ["f32", "f64"]
    for name in wanted:
        if name not in ("f32", "f64"):
            sys.exit(f"precision {name}: use f32 or f64")
        bench({"f32": torch.float32, "f64": torch.float64}[name])


if __name__ == "__main__":
    main()
