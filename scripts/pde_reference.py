"""An independent reference for the PDE (continuity) objective: the residual

    eps(t, x) = d_t f_t - div V_t + grad f_t . V_t + C(t),
    f_t = t u + (1 - t) f0 + t (1 - t) NN(x, t),

and the parameter gradient of the loss weight * mean(|eps| + eps^2), computed by nested
automatic differentiation in JAX (f64): div V is the trace of jax.jacfwd of the field,
d_t NN + grad NN . V a jax.jvp along (V, 1), grad f0 jax.grad of the base energy, and the
parameter gradient jax.grad of the whole. Nothing here shares code or hand-written derivatives
with boltzflow's residual (src/train/pde/residual.rs and the tangent passes of src/flow/).

The models are those of `PdeModelConfig` with a trainable diagonal Gaussian base, a gated field
of 4 swish MLPs [x, t] -> hidden -> d with gates exp(-16 (t - c_k)^2), c_k = 0, 1/3, 2/3, 1, the
optional swish NN [x, t] -> hidden -> 1, and the swish rate MLP t -> hidden -> 1. Parameters
are written in burn's visiting order (base loc, base log-scale; per field MLP and layer: weight
[in, out], bias; NN layers; rate layers), in the layout of a boltzflow checkpoint's model.h5,
so that the Rust test loads them with `Checkpoint::load_model`.

Run from the repository root (needs `pip install jax h5py`):

    python3 scripts/pde_reference.py

It rewrites src/train/pde/tests/fixtures/{linear,learned}/ (checkpoint/model.h5 and
reference.h5); `src/train/pde/tests/reference.rs` checks boltzflow against them.
"""

import os

import h5py
import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

D = 2
FIELD_HIDDEN = [5, 4]
GATES = 4
SHARPNESS = 16.0
NN_HIDDEN = [3]
RATE_HIDDEN = [4]
LOSS_WEIGHT = 0.7
POINTS = 9
OUT = os.path.join("src", "train", "pde", "tests", "fixtures")


def mlp_shapes(d_in, hidden, d_out):
    dims = [d_in] + hidden + [d_out]
    shapes = []
    for a, b in zip(dims[:-1], dims[1:]):
        shapes += [(a, b), (b,)]
    return shapes


def layout(learned):
    """Parameter shapes in burn's visiting order, with the component each belongs to."""
    shapes = [("base", (D,)), ("base", (D,))]
    for k in range(GATES):
        shapes += [(f"field{k}", s) for s in mlp_shapes(D + 1, FIELD_HIDDEN, D)]
    if learned:
        shapes += [("nn", s) for s in mlp_shapes(D + 1, NN_HIDDEN, 1)]
    shapes += [("rate", s) for s in mlp_shapes(1, RATE_HIDDEN, 1)]
    return shapes


def split(params, learned):
    """The flat parameter list as (loc, log_scale, [field MLPs], nn MLP or None, rate MLP)."""
    it = iter(params)
    loc, log_scale = next(it), next(it)
    per_mlp = lambda hidden: 2 * (len(hidden) + 1)
    field = [[next(it) for _ in range(per_mlp(FIELD_HIDDEN))] for _ in range(GATES)]
    nn = [next(it) for _ in range(per_mlp(NN_HIDDEN))] if learned else None
    rate = [next(it) for _ in range(per_mlp(RATE_HIDDEN))]
    return loc, log_scale, field, nn, rate


def silu(x):
    return x * jax.nn.sigmoid(x)


def mlp(layers, x):
    h = x
    for i in range(0, len(layers) - 2, 2):
        h = silu(h @ layers[i] + layers[i + 1])
    return h @ layers[-2] + layers[-1]


def centres():
    return [k / (GATES - 1) for k in range(GATES)]


def field(field_layers, x, t):
    xt = jnp.concatenate([x, jnp.array([t])])
    return sum(
        jnp.exp(-SHARPNESS * (t - c) ** 2) * mlp(layers, xt)
        for c, layers in zip(centres(), field_layers)
    )


def base_energy(loc, log_scale, x):
    z = (x - loc) * jnp.exp(-log_scale)
    return 0.5 * jnp.sum(z**2) + jnp.sum(log_scale) + 0.5 * D * jnp.log(2 * jnp.pi)


def residual_one(params, learned, x, t, u, grad_u):
    loc, log_scale, field_layers, nn, rate = split(params, learned)
    v = field(field_layers, x, t)
    divergence = jnp.trace(jax.jacfwd(lambda y: field(field_layers, y, t))(x))
    f0 = base_energy(loc, log_scale, x)
    grad_f0 = jax.grad(lambda y: base_energy(loc, log_scale, y))(x)
    c = mlp(rate, jnp.array([t]))[0]
    eps = u - f0 + t * jnp.dot(grad_u, v) + (1 - t) * jnp.dot(grad_f0, v) - divergence + c
    if learned:
        nn_of = lambda y, s: mlp(nn, jnp.concatenate([y, jnp.array([s])]))[0]
        value, along = jax.jvp(nn_of, (x, t), (v, 1.0))
        eps = eps + (1 - 2 * t) * value + t * (1 - t) * along
    return eps


def residual(params, learned, x, t, u, grad_u):
    return jax.vmap(lambda *a: residual_one(params, learned, *a))(x, t, u, grad_u)


def loss(params, learned, x, t, u, grad_u):
    eps = residual(params, learned, x, t, u, grad_u)
    return LOSS_WEIGHT * jnp.mean(jnp.abs(eps) + eps**2)


def write_case(name, learned, rng):
    shapes = layout(learned)
    # Scales that make every term of the residual matter: weights of order 1, a base that is
    # neither standard nor centred.
    params = [jnp.asarray(rng.normal(0.0, 0.6, size=s)) for _, s in shapes]
    x = jnp.asarray(rng.normal(0.0, 1.5, size=(POINTS, D)))
    t = jnp.asarray(np.linspace(0.0, 1.0, POINTS))
    u = jnp.asarray(rng.normal(0.0, 2.0, size=POINTS))
    grad_u = jnp.asarray(rng.normal(0.0, 2.0, size=(POINTS, D)))
    eps = residual(params, learned, x, t, u, grad_u)
    value, grads = jax.value_and_grad(loss)(params, learned, x, t, u, grad_u)

    folder = os.path.join(OUT, name)
    os.makedirs(os.path.join(folder, "checkpoint"), exist_ok=True)
    with h5py.File(os.path.join(folder, "checkpoint", "model.h5"), "w") as f:
        group = f.create_group("parameters")
        group.attrs["count"] = np.uint64(len(params))
        for i, p in enumerate(params):
            g = group.create_group(str(i))
            g.attrs["id"] = np.uint64(1000 + i)
            g.create_dataset("value", data=np.asarray(p, dtype=np.float64))
    with h5py.File(os.path.join(folder, "reference.h5"), "w") as f:
        f.attrs["loss"] = float(value)
        f.attrs["loss_weight"] = LOSS_WEIGHT
        f.attrs["generator"] = "scripts/pde_reference.py (JAX %s, nested autodiff, f64)" % jax.__version__
        for key, array in [("x", x), ("t", t), ("u", u), ("grad_u", grad_u), ("epsilon", eps)]:
            f.create_dataset(key, data=np.asarray(array, dtype=np.float64))
        gradients = f.create_group("gradients")
        for i, g in enumerate(grads):
            gradients.create_dataset(str(i), data=np.asarray(g, dtype=np.float64))
    print(f"{name}: {len(params)} parameters, loss {float(value):.12f}")


if __name__ == "__main__":
    rng = np.random.default_rng(20261205)
    write_case("linear", False, rng)
    write_case("learned", True, rng)
