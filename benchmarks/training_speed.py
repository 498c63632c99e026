"""Training cost of SEAL against cross-entropy: seconds per training epoch and test-time examples
per second of every shipped method of a task, in one process on one torch thread, as ratios to
cross-entropy's.

Each (data set, method) is built in this process from its shipped config (`build`: AllenNLP's
`TrainModel` with `--seed` for its seeds, without callbacks or checkpoints).  Then, for `--rounds`
rounds, each method's next epoch is timed in turn, so that a change in the machine's load falls on
every method alike: its training (the first `--max-batches` batches of the shuffled training data,
all with 0) and, apart, its validation pass (at most `--max-validation-batches` batches).  A model
trained in two phases (seal-static) is timed in each: epochs of its first phase and epochs of its
second.  Last, each model's test-time rate (`common.model_throughput`: eval mode, no_grad, batches
of 256, best of `--repeats` passes over the first `--max-test-instances` test instances).  Ratios
use the medians over rounds.  Seconds are the process's CPU time (`--clock cpu`, the default: on a
machine shared with other jobs, the cost of the work itself; memory-bandwidth contention still
shows) or wall time (`--clock wall`, on an idle machine).  With `--unshared`, each SEAL method is
also timed with its task-net run at every training step (the code before a batch's steps shared
one task-net forward), as `<method> unshared`.  With `--compile`, the task-net and the loss-net's
feature network of every model are compiled with `torch.compile` (inductor, CPU), in a first round
that is not timed (and the test-time rate is the best of at least two passes: the first compiles
for eval mode).

The code version is recorded; runs with uncommitted changes in seal/ are refused unless
--allow-dirty (the table then says so).  Writes `<out>.json` and `<out>.md`.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/training_speed.py [--datasets scene debtags-bow ocr wnut16]
           [--methods cross_entropy seal_dynamic_nce ...] [--max-batches 50] [--max-validation-batches 0]
           [--rounds 3] [--repeats 3] [--max-test-instances 1000] [--seed 1] [--clock cpu] [--unshared] [--compile]
           [--allow-dirty] [--out benchmarks/results/training-speed]
"""
import argparse
import contextlib
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Callable, Iterator, List, Optional, Sequence

import common

ROOT = common.ROOT
# data set -> its configs' folder and file prefix under training_configs/.
DATASETS = {
    "scene": ("multilabel", "scene"),
    "debtags-bow": ("multilabel", "debtags_bow"),
    "ocr": ("sequence_tagging", "ocr"),
    "wnut16": ("sequence_tagging", "wnut16"),
}
BASELINE = "cross_entropy"
# The methods timed, where the data set ships a config for them (cross-entropy first: the baseline).
METHODS = (BASELINE, "seal_dynamic_nce", "seal_dynamic_dvn", "seal_dynamic_ssvm", "seal_static_nce")


def config_path(dataset: str, method: str) -> str:
    folder, prefix = DATASETS[dataset]
    return os.path.join(ROOT, "training_configs", folder, f"{prefix}_{method}.jsonnet")


def shipped_methods(dataset: str, methods: Sequence[str] = METHODS) -> List[str]:
    """Those of `methods` the data set has a config for, in the order given."""
    return [method for method in methods if os.path.exists(config_path(dataset, method))]


class CappedLoader:
    """The first `max_batches` batches of a data loader per pass (all of them when `None`); every
    other attribute is the loader's.  A fresh pass reshuffles as the loader does."""

    def __init__(self, loader, max_batches: Optional[int]) -> None:
        self.loader = loader
        self.max_batches = max_batches

    def __iter__(self) -> Iterator:
        for index, batch in enumerate(self.loader):
            if self.max_batches is not None and index >= self.max_batches:
                return
            yield batch

    def __len__(self) -> int:
        length = len(self.loader)
        return length if self.max_batches is None else min(length, self.max_batches)

    def __getattr__(self, name):
        return getattr(self.loader, name)


def build(config: str, serialization_dir: str, seed: Optional[int] = None, overrides: Optional[dict] = None,
          max_batches: Optional[int] = None, max_validation_batches: Optional[int] = None):
    """AllenNLP's `TrainModel` of `config` (relative data paths from the repository root), built in
    this process as `allennlp train` builds it (seeds set first: the config's, or all three to
    `seed`), with no callbacks and no checkpoints, its training and validation loaders capped at
    `max_batches` and `max_validation_batches` batches per pass."""
    from allennlp.commands.train import TrainModel
    from allennlp.common import Params
    from allennlp.common.util import prepare_environment

    import seal  # noqa: F401  registers the components

    overrides = {**(common.seed_overrides(seed) if seed is not None else {}), **(overrides or {}),
                 "trainer.callbacks": [], "trainer.enable_default_callbacks": False,
                 "trainer.run_confidence_checks": False, "trainer.checkpointer": None}
    params = Params.from_file(config, json.dumps(overrides))
    params.pop("evaluation", None)  # read by `allennlp evaluate` (seal/evaluation.py), not by TrainModel
    with contextlib.chdir(ROOT):
        prepare_environment(params)
        built = TrainModel.from_params(params=params, serialization_dir=serialization_dir, local_rank=0)
    trainer = built.trainer
    trainer.data_loader = CappedLoader(trainer.data_loader, max_batches)
    if trainer._validation_data_loader is not None:
        trainer._validation_data_loader = CappedLoader(trainer._validation_data_loader, max_validation_batches)
    return built


# How seconds are counted: the process's CPU time (one torch thread: the work itself, whatever else
# the machine runs) or the wall time (on an idle machine).
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def train_epoch(trainer, epoch: int, clock: Callable[[], float] = time.process_time) -> float:
    """Seconds (on `clock`) of the trainer's training epoch `epoch` (no validation), counted as
    AllenNLP's loop does."""
    trainer._batches_in_epoch_completed = 0
    start = clock()
    trainer._train_epoch(epoch)
    seconds = clock() - start
    trainer._epochs_completed += 1
    return seconds


def validation_epoch(trainer, epoch: int, clock: Callable[[], float] = time.process_time) -> float:
    """Seconds (on `clock`) of a validation pass after epoch `epoch`, as AllenNLP's loop runs it (no
    gradient; the averaged weights under a moving average; the metrics read and reset)."""
    import torch

    start = clock()
    with torch.no_grad():
        trainer._validation_loss(epoch)
    trainer.model.get_metrics(reset=True)
    seconds = clock() - start
    trainer.model.train()
    return seconds


def phases(model) -> List[tuple]:
    """`(suffix, first epoch)` of each training phase of `model`: one, or two for a model trained in
    two phases (`TwoPhases`: seal-static, infnet)."""
    first_phase_epochs = getattr(model, "first_phase_epochs", 0)
    if first_phase_epochs > 0:
        return [(" (phase 1)", 0), (" (phase 2)", first_phase_epochs)]
    return [("", 0)]


def compile_networks(model) -> None:
    """Compiles, in place, the task-net and the loss-net's feature network (parameter names unchanged)."""
    for module in (getattr(model, "task_nn", None), getattr(getattr(model, "score_nn", None), "task_nn", None)):
        if module is not None:
            module.compile()


def unshare(model) -> None:
    """Makes `model` run its task-net at every training step, as before a batch's steps shared one
    task-net forward (`SealModel.training_batch`, issue #42): what the sharing saves, measured."""
    model.training_batch = contextlib.nullcontext


def measure(dataset: str, methods: Sequence[str], max_batches: Optional[int], rounds: int, repeats: int,
            max_test_instances: Optional[int], seed: Optional[int], compile_: bool = False,
            max_validation_batches: Optional[int] = None, unshared: bool = False, clock: str = "cpu") -> List[dict]:
    """A row per method (and phase) of `dataset`: its batches per epoch, its training and its
    validation seconds in each round, and its test-time examples per second, all on `clock`
    (`CLOCKS`).  With `unshared`, also a row per SEAL method with a task-net run at every step
    (`unshare`)."""
    import torch

    torch.set_num_threads(1)
    timer = CLOCKS[clock]
    rows, entries = [], []
    with tempfile.TemporaryDirectory() as scratch:
        variants = [(method, False) for method in methods]
        variants += [(method, True) for method in methods if unshared and method != BASELINE]
        for method, unshare_it in variants:
            name = method + (" unshared" if unshare_it else "")
            built = build(config_path(dataset, method), os.path.join(scratch, name.replace(" ", "_")), seed,
                          max_batches=max_batches, max_validation_batches=max_validation_batches)
            if unshare_it:
                unshare(built.model)
            if compile_:
                compile_networks(built.model)
            method_rows = [{"dataset": dataset, "method": name + suffix,
                            "batches_per_epoch": len(built.trainer.data_loader), "epoch_seconds": [],
                            "validation_seconds": []}
                           for suffix, _ in phases(built.model)]
            entries += [(row, built, first) for row, (_, first) in zip(method_rows, phases(built.model))]
            rows += method_rows
        epochs = {id(row): first for row, _, first in entries}
        for round_ in range(rounds + compile_):  # with --compile, a first round compiles, untimed
            for row, built, _ in entries:
                seconds = train_epoch(built.trainer, epochs[id(row)], timer)
                validation = validation_epoch(built.trainer, epochs[id(row)], timer)
                epochs[id(row)] += 1
                if round_ >= compile_:
                    row["epoch_seconds"].append(seconds)
                    row["validation_seconds"].append(validation)
            print(json.dumps({row["method"]: row["epoch_seconds"][-1:] for row, _, _ in entries}), file=sys.stderr,
                  flush=True)
        for row, built, _ in entries:
            test = list(built.evaluation_data_loader.iter_instances())[:max_test_instances]
            # a compiled model compiles again for eval mode in its first pass, which the best of two leaves out
            row["examples_per_second"] = common.model_throughput(
                built.model, test, common.gold_field, repeats=max(repeats, 2) if compile_ else repeats, clock=timer)
            built.model.train()
    return rows


def with_ratios(rows: List[dict]) -> List[dict]:
    """Each row with its median epoch seconds (training, and training plus validation) and,
    against its data set's cross-entropy row, its epoch costs (median / cross-entropy's median) and
    test-time cost (cross-entropy's rate / its rate)."""
    rows = copy.deepcopy(rows)
    baselines = {row["dataset"]: row for row in rows if row["method"] == BASELINE}
    for row in rows:
        row["median_epoch_seconds"] = statistics.median(row["epoch_seconds"])
        row["median_validated_epoch_seconds"] = statistics.median(
            map(sum, zip(row["epoch_seconds"], row["validation_seconds"])))
    for row in rows:
        baseline = baselines.get(row["dataset"])
        if baseline is not None:
            row["epoch_cost"] = row["median_epoch_seconds"] / baseline["median_epoch_seconds"]
            row["validated_epoch_cost"] = (row["median_validated_epoch_seconds"]
                                           / baseline["median_validated_epoch_seconds"])
            row["test_cost"] = baseline["examples_per_second"] / row["examples_per_second"]
    return rows


def markdown(rows: List[dict]) -> List[str]:
    def ratio(row, key):
        return f"{row[key]:.2f}x" if key in row else "-"

    columns = ["data set", "method", "batches / epoch", "training s / epoch (each round)", "epoch / cross-entropy's",
               "with validation / cross-entropy's", "test examples / s", "test time / cross-entropy's"]
    body = [[row["dataset"], row["method"], row["batches_per_epoch"],
             ", ".join(f"{seconds:.2f}" for seconds in row["epoch_seconds"]), ratio(row, "epoch_cost"),
             ratio(row, "validated_epoch_cost"), f"{row['examples_per_second']:.0f}", ratio(row, "test_cost")]
            for row in rows]
    return common.table(columns, body)


def check_version(allow_dirty: bool) -> dict:
    """The code version; refuses uncommitted changes in seal/ unless `allow_dirty`."""
    version = common.code_version()
    if version["seal_dirty"] is not False and not allow_dirty:
        raise SystemExit("seal/ has uncommitted changes (or this is not a git checkout), which no commit "
                         "reproduces; commit seal/ first, or pass --allow-dirty for a smoke test (the table says so)")
    return version


def main(argv: Optional[Sequence[str]] = None) -> List[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=list(DATASETS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS),
                        help="methods timed where the data set ships their config; cross_entropy is always timed")
    parser.add_argument("--max-batches", type=int, default=50, help="training batches per epoch (0: all)")
    parser.add_argument("--max-validation-batches", type=int, default=0, help="validation batches per pass (0: all)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="passes over the test instances (the best counts)")
    parser.add_argument("--max-test-instances", type=int, default=1000, help="0: the whole test set")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="torch.compile the task-nets and feature networks")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="count the process's CPU seconds (default: the work, on a busy machine) or wall seconds")
    parser.add_argument("--unshared", action="store_true",
                        help="also time each SEAL method with its task-net run at every step (before issue #42)")
    parser.add_argument("--out", default=os.path.join(common.RESULTS, "training-speed"))
    common.add_allow_dirty(parser)
    args = parser.parse_args(argv)
    version = check_version(args.allow_dirty)
    methods = [BASELINE] + [method for method in args.methods if method != BASELINE]
    rows = []
    for dataset in args.datasets:
        rows += measure(dataset, shipped_methods(dataset, methods), args.max_batches or None, args.rounds,
                        args.repeats, args.max_test_instances or None, args.seed, args.compile,
                        args.max_validation_batches or None, args.unshared, args.clock)
    rows = with_ratios(rows)
    command = " ".join(["python"] + list(sys.argv if argv is None else ["benchmarks/training_speed.py", *argv]))
    dirty = " with uncommitted changes in seal/ (no commit reproduces them)" if version["seal_dirty"] else ""
    lines = common.header(command) + [
        f"Code: commit `{(version['commit'] or 'unknown')[:10]}`{dirty}  ",
        f"Seed {args.seed}; {args.rounds} rounds, methods in turn; an epoch is at most {args.max_batches or 'all'} "
        f"training batches, then at most {args.max_validation_batches or 'all'} validation batches; seconds of "
        f"{'CPU time of the process' if args.clock == 'cpu' else 'wall time'}; ratios of medians over rounds; "
        f"torch.compile: {'yes' if args.compile else 'no'}; one torch thread.", "",
    ] + markdown(rows)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".md", "w") as out:
        out.write("\n".join(lines) + "\n")
    with open(args.out + ".json", "w") as out:
        json.dump({"command": command, "machine": common.machine(), "threads": 1, "seed": args.seed,
                   "clock": args.clock, "compile": args.compile, "code_version": version, "rows": rows}, out, indent=1)
    print("\n".join(lines))
    return rows


if __name__ == "__main__":
    main()
