"""Time one training step of the published PDE (continuity) objective, the authors' own JAX code
(Máté & Fleuret, github.com/balintmate/boltzmann-interpolations), beside
`examples/pde_step_benchmark.rs`. Nothing of theirs is copied here: this script imports their
modules from a checkout and builds their training step as their `pipelines/train.py` does
(Adam with the cosine-scaled schedule, `continuityLoss.grad`, jit).

Their code needs the versions it was written for (Python 3.11):

    python3 -m venv /tmp/venv-pub
    /tmp/venv-pub/bin/pip install jax==0.4.20 jaxlib==0.4.20 flax==0.7.4 optax==0.1.7 \
        hydra-core==1.3.2 "numpy<2" "scipy<1.13"

Then, one core each, alternately with the Rust benchmark:

    taskset -c 0 /tmp/venv-pub/bin/python examples/published_pde_step.py CHECKOUT/src gmm2 f32
    taskset -c 0 target/release/examples/pde_step_benchmark f32 2 256 51 64,64 learned 5

Problems: `gmm2` (their GMM-2: d = 2, modes 1 : 2 at (4, 4) and (−8, −8), base σ = 2√2, 4 MLPs
64×2) and `doublewell` (N = 16, m = 3, λ = 1, base p = 4, 4 MLPs 128×3); both with the learned
interpolation (`linear_trainable`), batch 256, 50 RK4 steps (51 times).
"""

import os
import sys
import time

os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402


def main():
    src, problem, precision = sys.argv[1], sys.argv[2], sys.argv[3]
    repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 5
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
        base_cfg, features, layers = {"P": 2, "sigma": 2.8284}, 64, 2
    elif problem == "doublewell":
        target = doubleWellEnergy(OmegaConf.create({"N": 16, "m": 3, "lam": 1}))
        base_cfg, features, layers = {"P": 4, "sigma": 1}, 128, 3
    else:
        raise SystemExit(f"unknown problem {problem}: gmm2 or doublewell")
    loss_target = "losses.continuity.continuityLoss"
    cfg = OmegaConf.create(
        {
            "integration_steps": 50,
            "train_steps": 10000,
            "learning_rate": 3e-3,
            "model_architecture": {
                "_target_": "flow.models_MLP.models_MLP",
                "params": {
                    "RNGkey": 0,
                    "loss": loss_target,
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
    schedule = lambda i: jnp.cos(jnp.pi / 2 * i / cfg.train_steps)
    optimizer = optax.chain(optax.adam(cfg.learning_rate), optax.scale_by_schedule(schedule))
    opt_state = optimizer.init(flow.params)

    @jax.jit
    def update_step(params, opt_state, key):
        grad = loss.grad(flow, params, key)
        updates, opt_state = optimizer.update(grad, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

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


if __name__ == "__main__":
    main()
