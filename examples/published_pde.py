"""The published PDE (continuity) objective, run with the authors' own JAX code (Máté &
Fleuret, github.com/balintmate/boltzmann-interpolations) beside boltzflow. Nothing of theirs is
copied here: their modules are imported from a checkout, and their training step is built as
their `pipelines/train.py` builds it (Adam with the cosine-scaled schedule over the run,
`continuityLoss.grad`, jit), without wandb.

Their code needs the versions it was written for (Python 3.11):

    python3 -m venv /tmp/venv-pub
    /tmp/venv-pub/bin/pip install jax==0.4.20 jaxlib==0.4.20 flax==0.7.4 optax==0.1.7 \
        hydra-core==1.3.2 "numpy<2" "scipy<1.13"

Two commands, one core each (XLA is made single-threaded below):

    # one training step's time, alternately with examples/pde_step_benchmark.rs
    taskset -c 0 /tmp/venv-pub/bin/python examples/published_pde.py step CHECKOUT/src gmm2 f32 [REPEATS]
    taskset -c 0 target/release/examples/pde_step_benchmark f32 2 256 51 64,64 learned 5
    # train STEPS steps with seed SEED, then report what `boltzflow sample` reports
    taskset -c 1 /tmp/venv-pub/bin/python examples/published_pde.py train CHECKOUT/src gmm2 f64 STEPS SEED
    # the same with smaller MLPs: FEATURESxLAYERS (published: 64x2 for gmm2, 128x3 for doublewell)
    ... train CHECKOUT/src doublewell f32 STEPS SEED 64x2

Problems: `gmm2` (their GMM-2: d = 2, modes 1 : 2 at (4, 4) and (−8, −8), base σ = 2√2, 4 MLPs
64×2, lr 3e-3) and `doublewell` (N = 16, m = 3, λ = 1, base p = 4, 4 MLPs 128×3, lr 3e-3, as in their run script); both
with the learned interpolation (`linear_trainable`), batch 256, 50 RK4 steps (51 times).

`train` reports the importance-sampled log Ẑ ± its standard error, the reverse ESS, ∫C dt turned
into a log Z estimate, and the mass of the (−8, −8) mode (GMM-2, exact 2/3) or of the well
Σx > 0 (double well). Their base energy f₀ = Σ|x/σ|ᵖ is not normalised, so ∫₀¹ C dt estimates
log Z₁ − log Z₀ with log Z₀ = d log(2σ Γ(1 + 1/p)); the estimate printed adds log Z₀ back.
"""

import math
import os
import sys

os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import time  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

EVAL_SAMPLES = 20000


def build(src, problem, precision, steps, seed, size=None):
    """The authors' flow, loss and jitted update step for `problem`; `size` = (features, layers)
    replaces the published widths of the MLPs."""
    sys.path.insert(0, src)
    jax.config.update("jax_enable_x64", precision == "f64")
    from flow.CNF import CNF
    from flow.densities import Generalized_Gaussian
    from losses.continuity import continuityLoss
    from targets.doublewell import doubleWellEnergy
    from targets.gaussian import gaussianEnergy

    if problem == "gmm2":
        target = gaussianEnergy(
            OmegaConf.create({"modes": [[[4, 4], 1, 1], [[-8, -8], 1, 2]]})
        )
        base_cfg, features, layers, lr = {"P": 2, "sigma": 2.8284}, 64, 2, 3e-3
    elif problem == "doublewell":
        target = doubleWellEnergy(OmegaConf.create({"N": 16, "m": 3, "lam": 1}))
        base_cfg, features, layers, lr = {"P": 4, "sigma": 1}, 128, 3, 3e-3
    else:
        raise SystemExit(f"unknown problem {problem}: gmm2 or doublewell")
    if size is not None:
        features, layers = size
    cfg = OmegaConf.create(
        {
            "integration_steps": 50,
            "train_steps": steps,
            "learning_rate": lr,
            "model_architecture": {
                "_target_": "flow.models_MLP.models_MLP",
                "params": {
                    "RNGkey": seed,
                    "loss": "losses.continuity.continuityLoss",
                    "base": base_cfg,
                    "features": features,
                    "num_hidden_layers": layers,
                    "num_models": 4,
                    "f_interpolation": "linear_trainable",
                },
            },
        }
    )
    base = Generalized_Gaussian(OmegaConf.create(base_cfg), target.configuration_shape)
    flow = CNF(cfg, target, base=base)
    loss = continuityLoss(256, 50, "L1+L2", target)
    schedule = lambda i: jnp.cos(jnp.pi / 2 * i / steps)
    optimizer = optax.chain(optax.adam(lr), optax.scale_by_schedule(schedule))
    opt_state = optimizer.init(flow.params)

    @jax.jit
    def update_step(params, opt_state, key):
        grad = loss.grad(flow, params, key)
        updates, opt_state = optimizer.update(grad, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    return target, base_cfg, flow, update_step, opt_state


def step_time(src, problem, precision, repeats):
    _, _, flow, update_step, opt_state = build(src, problem, precision, 10000, 0)
    key = jax.random.PRNGKey(0)
    params = flow.params
    times = []
    for repeat in range(repeats + 1):
        key, _ = jax.random.split(key)
        start = time.perf_counter()
        params, opt_state = update_step(params, opt_state, key)
        jax.block_until_ready(params)
        if repeat > 0:  # the first call compiles
            times.append(time.perf_counter() - start)
    times.sort()
    print(
        f"published PDE step, {problem}, {precision}, jax {jax.__version__}: "
        f"{times[len(times) // 2] * 1e3:.0f} ms (median of {repeats})"
    )


def train(src, problem, precision, steps, seed, size=None):
    target, base_cfg, flow, update_step, opt_state = build(
        src, problem, precision, steps, seed, size
    )
    key = jax.random.PRNGKey(seed)
    params = flow.params
    for _ in range(steps):
        key, _ = jax.random.split(key)
        params, opt_state = update_step(params, opt_state, key)

    # Evaluation, as `boltzflow sample` does it.
    key, sample_key = jax.random.split(key)
    x, log_q = flow.Sample(params, sample_key, EVAL_SAMPLES)
    u = jax.vmap(target.f)(x)
    log_w = np.asarray(-u - log_q, dtype=np.float64)
    finite = np.isfinite(log_w)
    top = log_w[finite].max()
    w = np.where(finite, np.exp(log_w - top), 0.0)
    n = len(w)
    mean = w.mean()
    log_z = top + math.log(mean)
    stderr = w.std(ddof=1) / (math.sqrt(n) * mean)
    ess = w.sum() ** 2 / (n * (w**2).sum())
    nodes, weights = np.polynomial.legendre.leggauss(64)
    t = 0.5 * (nodes + 1.0)
    c = np.array([float(flow.models.C_at_T(jnp.asarray(ti), params["C"])[0]) for ti in t])
    integral = 0.5 * float((weights * c).sum())
    d = target.configuration_shape[0]
    p, sigma = base_cfg["P"], base_cfg["sigma"]
    log_z0 = d * math.log(2 * sigma * math.gamma(1 + 1 / p))
    line = (
        f"published PDE, {problem}, {precision}, {steps} steps, seed {seed}: "
        f"IS log Z {log_z:.4f} ± {stderr:.4f}, reverse ESS {ess:.3f}, "
        f"∫C dt + log Z0 {integral + log_z0:.4f}"
    )
    if problem == "gmm2":
        xs = np.asarray(x, dtype=np.float64)
        near = np.linalg.norm(xs - [-8, -8], axis=1) < np.linalg.norm(xs - [4, 4], axis=1)
        line += (
            f", mass at (-8, -8) {(w * near).sum() / w.sum():.4f} "
            f"(unweighted {near.mean():.4f})"
        )
    else:
        line += f", mass of the well Σx > 0 {(w * (np.asarray(x).sum(1) > 0)).sum() / w.sum():.4f}"
    print(line)


def main():
    command, src, problem, precision = sys.argv[1:5]
    if command == "step":
        step_time(src, problem, precision, int(sys.argv[5]) if len(sys.argv) > 5 else 5)
    elif command == "train":
        size = tuple(int(v) for v in sys.argv[7].split("x")) if len(sys.argv) > 7 else None
        train(src, problem, precision, int(sys.argv[5]), int(sys.argv[6]), size)
    else:
        raise SystemExit(f"unknown command {command}: step or train")


if __name__ == "__main__":
    main()
