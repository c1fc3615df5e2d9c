# The worker behind boltzflow's `python` plugin: it loads the user's module and answers
# boltzflow's requests over stdin/stdout, the numbers in the shared memory file (the protocol of
# src/energy/worker/protocol.rs).
# boltzflow runs it with the user's interpreter as `python -c <this file>`.
import importlib.util
import json
import mmap
import numbers
import os
import platform
import struct
import sys
import traceback

OP_ENERGY, OP_SAMPLE = 1, 2
OK, FAILED, UNSUPPORTED = 0, 1, 3
RESERVED = ("file", "function", "python")


def read_frame(stream):
    head = stream.read(8)
    if len(head) < 8:
        return None
    (length,) = struct.unpack("<Q", head)
    body = stream.read(length)
    if len(body) < length:
        return None
    return body


def write_frame(stream, status, payload=b""):
    stream.write(struct.pack("<QB", len(payload) + 1, status))
    stream.write(payload)
    stream.flush()


def last_line(error):
    """The last line of the traceback, e.g. "ValueError: bad input"; the whole traceback goes to
    stderr for the user."""
    traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    return traceback.format_exception_only(type(error), error)[-1].strip()


def load(start):
    """The user's module, set up: (energy function, hello)."""
    import numpy  # noqa: F401  (a clear ImportError here when NumPy is missing)

    os.chdir(start["base_dir"])
    path = os.path.abspath(start["file"])
    if not os.path.isfile(path):
        raise FileNotFoundError(f"file: {start['file']} not found (relative to {os.getcwd()})")
    sys.path.insert(0, os.path.dirname(path))
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    if hasattr(module, "setup"):
        module.setup({k: v for k, v in start["config"].items() if k not in RESERVED})
    dim = getattr(module, "DIM", None)
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
        raise ValueError(f"{path} must define DIM, a positive int (after setup), not {dim!r}")
    dim = int(dim)
    function = start["function"]
    energy = getattr(module, function, None)
    if not callable(energy):
        raise ValueError(f"{path} has no function `{function}`")
    if hasattr(module, "metadata"):
        metadata = dict(module.metadata())
    else:
        metadata = {"system": f"Python energy {os.path.basename(path)}"}
    metadata.setdefault("system", f"Python energy {os.path.basename(path)}")
    hello = {
        "name": f"python:{os.path.basename(path)}",
        "version": f"{function} (Python {platform.python_version()})",
        "dim": dim,
        "metadata": metadata,
    }
    return energy, hello


class Shared:
    """The parent's shared memory file, mapped again when it grows."""

    def __init__(self, path):
        self.file = open(path, "r+b")
        self.map = None

    def view(self, length):
        import numpy as np

        if self.map is None or len(self.map) != length:
            if self.map is not None:
                self.map.close()
            self.map = mmap.mmap(self.file.fileno(), length)
        return np.frombuffer(self.map, dtype=np.float64)


def evaluate(energy, frame, dim, shared):
    import numpy as np

    with_grad = frame[1] != 0
    n, length = struct.unpack_from("<QQ", frame, 2)
    memory = shared.view(length)
    x = memory[: n * dim].reshape(n, dim).copy()
    result = energy(x)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError("the energy function must return a tuple (u, grad)")
    u = np.asarray(result[0], dtype=np.float64)
    if u.shape != (n,):
        raise ValueError(f"u has shape {u.shape}; expected ({n},) for {n} points")
    if with_grad:
        grad = np.asarray(result[1], dtype=np.float64)
        if grad.shape != (n, dim):
            raise ValueError(f"grad has shape {grad.shape}; expected ({n}, {dim})")
        memory[n * dim + n : 2 * n * dim + n] = grad.reshape(-1)
    memory[n * dim : n * dim + n] = u


def main():
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # print() in the user's code goes to stderr, never into the frames
    sys.stdout = sys.stderr
    start = read_frame(requests)
    if start is None:
        return
    try:
        start = json.loads(start)
        shared = Shared(start["shared"])
        energy, hello = load(start)
    except BaseException as error:  # noqa: BLE001  (everything is reported to boltzflow)
        write_frame(replies, FAILED, last_line(error).encode())
        return
    write_frame(replies, OK, json.dumps(hello).encode())
    dim = hello["dim"]
    while True:
        frame = read_frame(requests)
        if frame is None:
            return
        if frame[0] == OP_ENERGY:
            try:
                evaluate(energy, frame, dim, shared)
            except Exception as error:  # noqa: BLE001
                write_frame(replies, FAILED, last_line(error).encode())
                continue
            write_frame(replies, OK)
        elif frame[0] == OP_SAMPLE:
            write_frame(replies, UNSUPPORTED, b"a Python energy has no exact sampler")
        else:
            write_frame(replies, FAILED, f"unknown request code {frame[0]}".encode())


main()
