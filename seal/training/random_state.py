"""The global random-number generators that training draws from (Python's `random`: AllenNLP's data
loaders and batch samplers shuffle with it; NumPy's; torch's CPU and CUDA generators: dropout and
SEAL's samplers), captured as plain tensors, ints and tuples, so that a checkpoint holding them still
loads with `torch.load(weights_only=True)`."""
import random
from typing import Any, Dict

import numpy
import torch

RandomStates = Dict[str, Any]


def capture() -> RandomStates:
    """The current state of every generator; `restore` puts it back.  Drawing nothing, capturing
    changes no state."""
    kind, key, position, has_gauss, cached_gaussian = numpy.random.get_state(legacy=True)
    states = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "key": torch.from_numpy(key.astype(numpy.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore(states: RandomStates) -> None:
    """Sets every generator to `states` (from `capture`, possibly through `torch.save` and
    `torch.load`).  CUDA states are restored only where CUDA is available."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    saved = states["numpy"]
    numpy.random.set_state((saved["kind"], saved["key"].numpy().astype(numpy.uint32), saved["position"],
                            saved["has_gauss"], saved["cached_gaussian"]))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
