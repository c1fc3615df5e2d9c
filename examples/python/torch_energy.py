"""PyTorch energies for boltzflow's `python` plugin: any torch.nn.Module, forces by autograd.

The energy is a `torch.nn.Module` mapping positions x of shape (n, DIM) to reduced energies u of
shape (n,); boltzflow's positions arrive as a float64 NumPy array, are evaluated in float64 on the
configured device, and the gradient grad = du/dx comes from autograd. Two modules are defined
here, and any TorchScript module can be loaded instead:

  model: "many_well"   the FAB Many-Well (Midgley et al., 2023), the same energy as boltzflow's
                       `double-well` plugin with system "many_well":
                       u(x) = sum_i x_{2i}^4 - 6 x_{2i}^2 - 0.5 x_{2i} + x_{2i+1}^2 / 2 (dim even)
  model: "mlp"         a tiny MLP energy with random weights (fixed by `seed`), confined by a
                       harmonic term so that exp(-u) is normalisable:
                       u(x) = |x|^2 / 2 + w . tanh(W2 tanh(W1 x + b1) + b2)
  torchscript: "m.pt"  a module saved with torch.jit.save (any architecture); `dim` gives its
                       input size. The module must return u of shape (n,), in reduced units.

Config keys (paths are relative to the system file's folder, the worker's working directory):
  model        "many_well" (default) or "mlp"; ignored when `torchscript` is given
  dim          number of coordinates DIM (default 2; even for "many_well"; required with
               `torchscript`)
  hidden       width of the MLP's hidden layers (default 16)
  seed         seed of the MLP's weights (default 0)
  torchscript  path of a TorchScript module to use as the energy
  device       torch device, "cpu" (default) or e.g. "cuda"
  threads      torch CPU threads (default: torch's own choice)

Example system file:

    System(plugin: "python", config: (
        file: "torch_energy.py",
        model: "many_well",
        dim: 8,
    ))
"""

import numpy as np

try:
    import torch
except ImportError:
    raise ImportError(
        "torch_energy.py needs PyTorch, which this Python interpreter does not have: install it "
        "with `pip install torch` (https://pytorch.org) or choose the interpreter that has it "
        "with the system file's `python` key") from None

KNOWN_KEYS = ("model", "dim", "hidden", "seed", "torchscript", "device", "threads")

DIM = None  # number of coordinates; set by setup()

# Set by setup(): the energy module, the device it runs on and the resolved parameters.
_model = None
_device = None
_parameters = None


class ManyWell(torch.nn.Module):
    """The FAB Many-Well: a double well in each even coordinate, a harmonic odd partner."""

    def forward(self, x):
        a, b = x[:, 0::2], x[:, 1::2]
        return (a**4 - 6.0 * a**2 - 0.5 * a).sum(dim=1) + 0.5 * (b**2).sum(dim=1)


class MlpEnergy(torch.nn.Module):
    """A harmonic confinement plus a bounded two-layer tanh MLP."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(dim, hidden), torch.nn.Tanh(),
            torch.nn.Linear(hidden, hidden), torch.nn.Tanh(),
            torch.nn.Linear(hidden, 1, bias=False),
        )

    def forward(self, x):
        return 0.5 * (x**2).sum(dim=1) + self.net(x).squeeze(1)


def setup(config):
    """Builds (or loads) the energy module, in float64 on the configured device."""
    global DIM, _model, _device, _parameters

    unknown = sorted(set(config) - set(KNOWN_KEYS))
    if unknown:
        raise ValueError(f"unknown config key(s) {', '.join(unknown)}; "
                         f"torch_energy.py accepts {', '.join(KNOWN_KEYS)}")
    dim = _positive_int(config, "dim", 2)
    if "threads" in config:
        torch.set_num_threads(_positive_int(config, "threads", None))
    try:
        _device = torch.device(config.get("device", "cpu"))
    except RuntimeError as e:
        raise ValueError(f"device: {config['device']!r} is not a torch device ({e})") from None

    parameters = {"dim": dim, "device": str(_device), "torch_version": torch.__version__}
    if "torchscript" in config:
        if "dim" not in config:
            raise ValueError("config key 'dim' is required with 'torchscript'")
        path = config["torchscript"]
        try:
            model = torch.jit.load(path, map_location="cpu")
        except (RuntimeError, ValueError, OSError) as e:
            raise ValueError(f"torchscript: {path} could not be loaded as a TorchScript "
                             f"module: {e}") from None
        parameters["torchscript"] = path
    else:
        name = config.get("model", "many_well")
        if name == "many_well":
            if dim % 2:
                raise ValueError(f"dim must be even for model 'many_well', not {dim}")
            model = ManyWell()
        elif name == "mlp":
            hidden = _positive_int(config, "hidden", 16)
            seed = config.get("seed", 0)
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise ValueError(f"seed must be an integer, not {seed!r}")
            torch.manual_seed(seed)
            model = MlpEnergy(dim, hidden)
            parameters.update(hidden=hidden, seed=seed)
        else:
            raise ValueError(f"model must be 'many_well' or 'mlp', not {name!r}")
        parameters["model"] = name
    _model = model.to(device=_device, dtype=torch.float64).eval()
    for p in _model.parameters():
        p.requires_grad_(False)  # only the positions need gradients

    # One evaluation at the origin checks that the module takes (n, dim) and returns (n,).
    u = _model(torch.zeros((3, dim), dtype=torch.float64, device=_device))
    if tuple(u.shape) != (3,):
        raise ValueError(f"the energy module returned shape {tuple(u.shape)} for 3 positions "
                         f"of dim {dim}; it must return one energy per position, shape (3,)")
    DIM = dim
    _parameters = parameters


def energy(x):
    """Reduced energies u (n,) and gradients grad = du/dx (n, DIM), both float64."""
    # A float64 copy on the device, so that autograd never touches the caller's array.
    xt = torch.tensor(np.asarray(x, dtype=np.float64), device=_device).requires_grad_(True)
    with torch.enable_grad():
        u = _model(xt)
        # Each u_i depends only on x_i, so the gradient of the sum gives every row's gradient
        # (a non-finite u_i leaves the other rows intact).
        (grad,) = torch.autograd.grad(u.sum(), xt)
    return (u.detach().cpu().numpy().astype(np.float64, copy=False),
            grad.cpu().numpy().astype(np.float64, copy=False))


def metadata():
    """The system's name, a one-line description and the resolved parameters."""
    if "torchscript" in _parameters:
        name, description = (f"TorchScript {_parameters['torchscript']}",
                             "a TorchScript energy module, gradients by autograd")
    elif _parameters["model"] == "many_well":
        name = f"Many-Well (torch), dim {DIM}"
        description = ("FAB Many-Well: sum over coordinate pairs of x1^4 - 6 x1^2 - 0.5 x1 + "
                       "x2^2/2, gradients by PyTorch autograd")
    else:
        name = f"MLP energy (torch), dim {DIM}"
        description = (f"|x|^2/2 plus a tanh MLP ({_parameters['hidden']} hidden units, "
                       f"seed {_parameters['seed']}), gradients by PyTorch autograd")
    return {"system": name, "description": description, "parameters": _parameters}


def _positive_int(config, key, default):
    """config[key] (or `default`), checked to be a positive integer."""
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a positive integer, not {value!r}")
    return value
