"""Where the time of a training epoch goes: one epoch of each config given, built in this process
(`training_speed.build`, seeds fixed), with every part of a training step timed, then one
validation pass.

Each part is timed exclusively (a part inside another counts once, in the inner one), and split by
the step it runs in (`score_nn` or `task_nn`, or outside the steps):

    task-net forward       the model's task-net (forward hooks; the calls are counted too)
    loss-net features      the score-net's feature network (`ScoreNN.task_nn`; counted too)
    sampling               `Sampler` calls, less the scoring inside them (gradient-based inference)
    scoring samples        `BoundScore` calls: the loss-net's label side (local and structured score)
    loss                   the `Loss` modules' own work (a guarded sum's anchor gradient included)
    training metrics       the model's metric updates
    model, other           the rest of the model's forward: labels, distributions, Python
    backward               `loss.backward()`
    optimizer              optimizer steps
    zero_grad              the trainer's `zero_grad` before each step
    gradient clipping      the trainer's per-module gradient clipping
    moving average         parameter averaging after each batch
    data loading           the data loader's next batch
    trainer, other         the rest of the epoch: the trainer's loop and bookkeeping

Seconds are the process's CPU time (`--clock cpu`, the default: on a machine shared with other jobs,
time during which the process waits for a core is counted nowhere) or wall time (`--clock wall`).
With `--unshared`, every step runs the task-net (as before a batch's steps shared one forward,
issue #42).  With `--cprofile N`, the epoch is run a second time under cProfile and its N functions
of most own time are printed too.  The machine's load changes the absolute times; read the shares.

Usage: OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/profile_training.py CONFIG [CONFIG ...]
           [--max-batches 50] [--max-validation-batches 10] [--warmup-batches 3] [--seed 1] [--cprofile 25]
           [--unshared] [--clock cpu]
The first config is the baseline the others' epoch times are compared with (cross-entropy).
"""
import argparse
import contextlib
import cProfile
import functools
import io
import os
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Sequence

import torch

import common
import training_speed

STEPS = ("score_nn", "task_nn", "-")
CATEGORIES = ("task-net forward", "loss-net features", "sampling", "scoring samples", "loss", "training metrics",
              "model, other", "backward", "optimizer", "zero_grad", "gradient clipping", "moving average",
              "data loading", "trainer, other")
COUNTED = ("task-net forward", "loss-net features")


class Clock:
    """Exclusive seconds (of `timer`: the process's CPU time by default) and call counts per
    (phase, step, category)."""

    def __init__(self, timer: Callable[[], float] = time.process_time) -> None:
        self.timer = timer
        self.seconds: Dict[tuple, float] = defaultdict(float)
        self.calls: Dict[tuple, int] = defaultdict(int)
        self.stack: List[list] = []
        self.phase, self.step = "train", "-"

    def enter(self, category: str) -> None:
        self.stack.append([category, self.timer(), 0.0])

    def leave(self) -> None:
        category, start, inner = self.stack.pop()
        elapsed = self.timer() - start
        key = (self.phase, self.step, category)
        self.seconds[key] += elapsed - inner
        self.calls[key] += 1
        if self.stack:
            self.stack[-1][2] += elapsed

    @contextlib.contextmanager
    def timing(self, category: str):
        self.enter(category)
        try:
            yield
        finally:
            self.leave()

    def wrap(self, function: Callable, category: str) -> Callable:
        @functools.wraps(function)
        def timed(*args, **kwargs):
            with self.timing(category):
                return function(*args, **kwargs)

        return timed

    def hook(self, module: torch.nn.Module, category: str) -> list:
        """Times `module`'s forward calls as `category`; returns the hook handles."""
        return [module.register_forward_pre_hook(lambda *_: self.enter(category)),
                module.register_forward_hook(lambda *_: self.leave())]

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


class TimedLoader:
    """A data loader whose batches are timed as `data loading`."""

    def __init__(self, loader, clock: Clock) -> None:
        self.loader, self.clock = loader, clock

    def __iter__(self):
        batches = iter(self.loader)
        while True:
            self.clock.step = "-"
            with self.clock.timing("data loading"):
                batch = next(batches, None)
            if batch is None:
                return
            yield batch

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name):
        return getattr(self.loader, name)


@contextlib.contextmanager
def patched(owner, name: str, replacement):
    original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        if isinstance(owner, type):
            setattr(owner, name, original)
        else:
            delattr(owner, name)


@contextlib.contextmanager
def instrumented(built, clock: Clock):
    """Every timing point of `Clock`'s categories installed on the built model and trainer."""
    from seal.modules.losses.loss import Loss
    from seal.modules.samplers.sampler import Sampler
    from seal.modules.score_nets.score_nn import BoundScore

    model, trainer = built.model, built.trainer
    handles = []
    if getattr(model, "task_nn", None) is not None:
        handles += clock.hook(model.task_nn, "task-net forward")
    if getattr(model, "score_nn", None) is not None:
        handles += clock.hook(model.score_nn.task_nn, "loss-net features")
    for module in model.modules():
        if isinstance(module, Loss):
            handles += clock.hook(module, "loss")
    handles += clock.hook(model, "model, other")
    samplers = {Sampler.by_name(name) for name in Sampler.list_available()}

    def set_step(step_function):
        def step(batch, name):
            clock.step = name
            return step_function(batch, name)
        return step

    with contextlib.ExitStack() as stack:
        for sampler in samplers:
            if "__call__" in sampler.__dict__:
                stack.enter_context(patched(sampler, "__call__", clock.wrap(sampler.__dict__["__call__"], "sampling")))
        stack.enter_context(patched(BoundScore, "__call__", clock.wrap(BoundScore.__call__, "scoring samples")))
        stack.enter_context(patched(torch.Tensor, "backward", clock.wrap(torch.Tensor.backward, "backward")))
        if hasattr(model, "_update_metrics"):
            metrics = clock.wrap(model._update_metrics, "training metrics")
            stack.enter_context(patched(model, "_update_metrics", metrics))
        stack.enter_context(patched(model, "zero_grad", clock.wrap(model.zero_grad, "zero_grad")))
        if hasattr(trainer, "_clip"):
            stack.enter_context(patched(trainer, "_clip", clock.wrap(trainer._clip, "gradient clipping")))
        if hasattr(trainer, "_step"):
            stack.enter_context(patched(trainer, "_step", set_step(trainer._step)))
        optimizers = trainer.optimizer.optimizers.values() if hasattr(trainer.optimizer, "optimizers") \
            else [trainer.optimizer]
        for optimizer in optimizers:
            stack.enter_context(patched(optimizer, "step", clock.wrap(optimizer.step, "optimizer")))
        if trainer._moving_average is not None:
            stack.enter_context(patched(trainer._moving_average, "apply",
                                        clock.wrap(trainer._moving_average.apply, "moving average")))
        loader = trainer.data_loader
        trainer.data_loader = TimedLoader(loader, clock)
        try:
            yield
        finally:
            trainer.data_loader = loader
            for handle in handles:
                handle.remove()


def timed_total(clock: Clock, phase: str, run: Callable[[], object]) -> float:
    """Runs `run` as `phase`, the time outside every category counted as `trainer, other`."""
    clock.phase, clock.step = phase, "-"
    start = clock.timer()
    with clock.timing("trainer, other"):
        run()
    return clock.timer() - start


def profile(config: str, scratch: str, seed: int, max_batches: Optional[int], max_validation_batches: Optional[int],
            warmup_batches: int, cprofile: int, unshared: bool = False, timer: Callable[[], float] = time.process_time
            ) -> dict:
    built = training_speed.build(config, scratch, seed, max_batches=max_batches,
                                 max_validation_batches=max_validation_batches)
    if unshared:
        training_speed.unshare(built.model)
    trainer, clock = built.trainer, Clock(timer)
    loader = trainer.data_loader
    if warmup_batches:  # first calls allocate: not what an epoch costs
        loader.max_batches, cap = warmup_batches, loader.max_batches
        training_speed.train_epoch(trainer, 0)
        loader.max_batches = cap
    with instrumented(built, clock):
        epoch_seconds = timed_total(clock, "train", lambda: training_speed.train_epoch(trainer, 1))
        validation_seconds = timed_total(clock, "validation", lambda: training_speed.validation_epoch(trainer, 1))
    record = {"config": os.path.relpath(config, common.ROOT), "batches": len(loader),
              "validation_batches": len(trainer._validation_data_loader), "epoch_seconds": epoch_seconds,
              "validation_seconds": validation_seconds, "seconds": dict(clock.seconds), "calls": dict(clock.calls)}
    if cprofile:
        profiler = cProfile.Profile()
        profiler.runcall(training_speed.train_epoch, trainer, 2)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(cprofile)
        record["cprofile"] = text.getvalue()
    return record


def breakdown(record: dict, phase: str, total: float) -> List[str]:
    """A table of the phase's categories (rows) by step (columns), in % of `total` seconds."""
    seconds = {key[1:]: value for key, value in record["seconds"].items() if key[0] == phase}
    steps = [step for step in STEPS if any(key[0] == step for key in seconds)]
    rows = []
    for category in CATEGORIES:
        values = [seconds.get((step, category), 0.0) for step in steps]
        if sum(values) > 0:
            rows.append([category] + [f"{100 * value / total:.1f}" if value else "" for value in values]
                        + [f"{100 * sum(values) / total:.1f}"])
    names = {"score_nn": "score_nn step", "task_nn": "task_nn step", "-": "outside the steps"}
    return common.table(["% of the " + phase] + [names[step] for step in steps] + ["all"], rows)


def calls_per_batch(record: dict, phase: str, batches: int) -> str:
    """Forward calls of the task-net and of the loss-net's feature network per batch of `phase`."""
    calls = defaultdict(int)
    for (call_phase, _, category), count in record["calls"].items():
        if call_phase == phase:
            calls[category] += count
    return ", ".join(f"{category}: {calls[category] / batches:g}" for category in COUNTED)


def markdown(records: Sequence[dict]) -> List[str]:
    baseline = records[0]
    per_batch = baseline["epoch_seconds"] / baseline["batches"]
    lines = []
    for record in records:
        batch_cost = record["epoch_seconds"] / record["batches"] / per_batch
        lines += [f"### {record['config']}", "",
                  f"- {record['batches']} training batches: {record['epoch_seconds']:.2f} s "
                  f"({batch_cost:.2f}x {baseline['config']}'s time per batch); validation "
                  f"({record['validation_batches']} batches): {record['validation_seconds']:.2f} s",
                  f"- forward calls per training batch: {calls_per_batch(record, 'train', record['batches'])}",
                  f"- forward calls per validation batch: "
                  f"{calls_per_batch(record, 'validation', record['validation_batches'])}", ""]
        lines += breakdown(record, "train", record["epoch_seconds"]) + [""]
        lines += breakdown(record, "validation", record["validation_seconds"]) + [""]
        if "cprofile" in record:
            lines += ["```", record["cprofile"].strip(), "```", ""]
    return lines


def main(argv: Optional[Sequence[str]] = None) -> List[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="+")
    parser.add_argument("--max-batches", type=int, default=50, help="0: the whole epoch")
    parser.add_argument("--max-validation-batches", type=int, default=10, help="0: all")
    parser.add_argument("--warmup-batches", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cprofile", type=int, default=0, help="print this many functions of cProfile")
    parser.add_argument("--unshared", action="store_true",
                        help="run the task-net at every training step, as before issue #42 (training_speed.unshare)")
    parser.add_argument("--clock", choices=sorted(training_speed.CLOCKS), default="cpu",
                        help="the process's CPU seconds (default: the work, on a busy machine) or wall seconds")
    parser.add_argument("--out", help="also write the markdown here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        records = [profile(os.path.abspath(config), os.path.join(scratch, str(index)), args.seed,
                           args.max_batches or None, args.max_validation_batches or None, args.warmup_batches,
                           args.cprofile, args.unshared, training_speed.CLOCKS[args.clock])
                   for index, config in enumerate(args.configs)]
    sharing = "; task-net run at every step (--unshared)" if args.unshared else ""
    seconds = "CPU seconds of the process" if args.clock == "cpu" else "wall seconds"
    common.report([f"Seed {args.seed}; one torch thread; {seconds}{sharing}.", ""] + markdown(records), args.out)
    return records


if __name__ == "__main__":
    sys.exit(main() and 0)
