"""A fingerprint of a fixture training run (final weights and metrics), to check that a refactoring
leaves the numbers of a method exactly as they were.

`python tests/models/regression.py REPO_ROOT OUTPUT.json` trains the configs of `CONFIGS` with the
`seal` package importable from `REPO_ROOT` (run it with `PYTHONPATH=REPO_ROOT`, cwd `REPO_ROOT`) and
writes their fingerprints: how fixtures/regression/factorised.json was made (see
tests/models/test_factorised_regression.py for which commit and machine).
"""
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict

# Fixture configs (relative to the repository root) whose runs the regression test compares, with
# overrides: OCR's task-net loss also gets the `negative-entropy` term, so that every piece of the
# factorised distribution (samples, log q, marginals, entropy, decoding) is in some run.
_ENTROPY = {"model.task_nn_loss.losses": [{"type": "energy", "normalize": True}, {"type": "cross-entropy"},
                                          {"type": "negative-entropy"}],
            "model.task_nn_loss.weights": [1.0, 1.0, 0.5]}
# The runs are of SEAL's task-net loss without the cross-entropy guard (added after the fingerprints
# were recorded; it is tested on its own): these fingerprints check refactorings of the rest.
_UNGUARDED = {"model.task_nn_loss.anchor": None}
CONFIGS = {
    "scene_seal_dynamic_nce": ("fixtures/configs/scene_small_seal_dynamic_nce.jsonnet", _UNGUARDED),
    "wnut16_seal_dynamic_nce": ("fixtures/configs/wnut16_small_seal_dynamic_nce.jsonnet", _UNGUARDED),
    "ocr_seal_dynamic_nce_entropy": ("fixtures/configs/ocr_small_seal_dynamic_nce.jsonnet", {**_ENTROPY, **_UNGUARDED}),
}
NUM_EPOCHS = 2
# Values of each weight tensor kept verbatim (besides its sum and sum of squares).
HEAD_VALUES = 8
# Metrics that are not numbers of the model (time, memory, bookkeeping).
_NOT_NUMBERS = ("duration", "memory", "epoch", "start", "time")


def fingerprint(config: Path, serialization_dir: Path, overrides: Dict[str, Any]) -> Dict[str, Any]:
    """Trains `config` for `NUM_EPOCHS` epochs in-process (cwd must be the repository root) and
    returns its final weights (sum, sum of squares and first values per tensor) and metrics."""
    import torch
    from allennlp.commands.train import train_model_from_file

    import seal  # noqa: F401  (registers the components)

    overrides = json.dumps({"trainer.num_epochs": NUM_EPOCHS, "trainer.callbacks": [], **overrides})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the fingerprints are of one-thread runs: parallel sums round differently
    try:
        model = train_model_from_file(str(config), str(serialization_dir), overrides=overrides)
    finally:
        torch.set_num_threads(threads)
    weights = {}
    for name, tensor in sorted(model.state_dict().items()):
        values = tensor.detach().double().flatten()
        weights[name] = {"sum": values.sum().item(), "sum_of_squares": (values * values).sum().item(),
                         "head": values[:HEAD_VALUES].tolist()}
    with open(serialization_dir / "metrics.json") as file:
        metrics = json.load(file)
    numbers = {key: value for key, value in metrics.items()
               if isinstance(value, (int, float)) and not any(word in key for word in _NOT_NUMBERS)}
    return {"weights": weights, "metrics": numbers}


def machine() -> Dict[str, str]:
    """What float results depend on besides the code: the CPU model, the vector instructions torch
    uses on it (one "AMD EPYC" may have AVX-512 and the next not) and the torch build (the same run
    differs in its last bits between CPU kinds, and such bits grow over training)."""
    import torch

    with open("/proc/cpuinfo") as cpuinfo:
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "unknown")
    return {"cpu": cpu, "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__}


def main(repo_root: str, output: str) -> None:
    results: Dict[str, Any] = {"machine": machine()}
    for name, (config, overrides) in CONFIGS.items():
        with tempfile.TemporaryDirectory() as directory:
            results[name] = fingerprint(Path(repo_root) / config, Path(directory) / "run", overrides)
    with open(output, "w") as file:
        json.dump(results, file, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
