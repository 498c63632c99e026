"""Speed of the project's linear-chain CRF against AllenNLP's `ConditionalRandomField` and
`pytorch-crf` (when installed), side by side in one run on one torch thread.

Two tasks per cell of (batch size, length, number of tags): the log-likelihood of gold tag
sequences with its gradient (forward and backward with respect to the unaries and the
transition, start and end scores), and Viterbi decoding.  Every implementation gets the same
random unaries, tags and mask (lengths uniform in [length / 2, length], one sequence of full
length).  Within a cell the implementations take turns, so a change in the machine's load falls
on all of them alike; each is timed until `--seconds` have passed or `--repeats` calls were made
(at least one), and its median time per call gives its rate in sequences per second.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/crf_speed.py [--batches 1 32 256]
           [--lengths 10 50 200] [--tags 26 41 182] [--repeats 5] [--seconds 0.5]
           [--out benchmarks/results/crf-speed]
Writes `<out>.md` (tables and ratios) and `<out>.json` (the rates).
"""
import argparse
import json
import os
import statistics
import sys
import time
from typing import Callable, Dict, List

import torch
from allennlp.modules.conditional_random_field import ConditionalRandomField

import common
from seal.modules.distributions import LinearChainCRF

try:
    import torchcrf
except ImportError:  # pytorch-crf is optional: its columns are left out
    torchcrf = None

TASKS = ("log-likelihood", "viterbi")


class Cell:
    """Inputs of one (batch, length, tags) cell and, per implementation, its two timed calls."""

    def __init__(self, batch: int, length: int, num_tags: int, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.unary = torch.randn(batch, length, num_tags, generator=generator).requires_grad_()
        self.tags = torch.randint(num_tags, (batch, length), generator=generator)
        lengths = torch.randint((length + 1) // 2, length + 1, (batch,), generator=generator)
        lengths[0] = length
        self.mask = torch.arange(length)[None, :] < lengths[:, None]
        self.transitions = torch.nn.Parameter(0.1 * torch.randn(num_tags, num_tags, generator=generator))
        self.start = torch.nn.Parameter(torch.randn(num_tags, generator=generator))
        self.end = torch.nn.Parameter(torch.randn(num_tags, generator=generator))
        self.allennlp = ConditionalRandomField(num_tags)
        self.pytorch_crf = None if torchcrf is None else torchcrf.CRF(num_tags, batch_first=True)

    def calls(self) -> Dict[str, Dict[str, Callable[[], object]]]:
        """`{implementation: {task: call}}`; every log-likelihood is summed over the batch."""
        implementations = {
            "seal": {"log-likelihood": lambda: self.crf().log_prob_tags(self.tags).sum().backward(),
                     "viterbi": lambda: self.crf().viterbi()},
            "allennlp": {"log-likelihood": lambda: self.allennlp(self.unary, self.tags, self.mask).backward(),
                         "viterbi": lambda: self.allennlp.viterbi_tags(self.unary.detach(), self.mask)},
        }
        if self.pytorch_crf is not None:
            implementations["pytorch-crf"] = {
                "log-likelihood": lambda: self.pytorch_crf(self.unary, self.tags, self.mask).backward(),
                "viterbi": lambda: self.pytorch_crf.decode(self.unary.detach(), self.mask),
            }
        return implementations

    def crf(self) -> LinearChainCRF:
        return LinearChainCRF(self.unary, self.transitions, self.mask, self.start, self.end)


def timed(call: Callable[[], object], task: str) -> float:
    started = time.perf_counter()
    with torch.set_grad_enabled(task == "log-likelihood"):
        call()
    return time.perf_counter() - started


def time_cell(cell: Cell, task: str, repeats: int, seconds: float) -> Dict[str, float]:
    """Sequences per second of every implementation on `task`, implementations taking turns.  The
    first call of each is a warm-up, unless it alone took `seconds` (then it is the measurement)."""
    calls = {name: tasks[task] for name, tasks in cell.calls().items()}
    times: Dict[str, List[float]] = {name: [] for name in calls}
    for name, call in calls.items():
        first = timed(call, task)
        if first >= seconds:
            times[name].append(first)
    for _ in range(repeats):
        for name, call in calls.items():
            if not times[name] or sum(times[name]) < seconds and len(times[name]) < repeats:
                times[name].append(timed(call, task))
    batch = cell.unary.size(0)
    return {name: batch / statistics.median(values) for name, values in times.items()}


def measure(batches, lengths, tags, repeats, seconds) -> List[dict]:
    """A row per cell and task: `{task, batch, length, tags, rates: {implementation: sequences / s}}`."""
    rows = []
    for num_tags in tags:
        for length in lengths:
            for batch in batches:
                cell = Cell(batch, length, num_tags)
                for task in TASKS:
                    rates = time_cell(cell, task, repeats, seconds)
                    rows.append({"task": task, "batch": batch, "length": length, "tags": num_tags, "rates": rates})
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def markdown(rows: List[dict], task: str) -> List[str]:
    """A table of rates (sequences / s) and of seal's speed-up over each other implementation."""
    task_rows = [row for row in rows if row["task"] == task]
    others = [name for name in task_rows[0]["rates"] if name != "seal"]
    columns = (["batch", "length", "tags"] + [f"{name} seq/s" for name in task_rows[0]["rates"]]
               + [f"seal / {name}" for name in others])
    body = []
    for row in task_rows:
        rates = row["rates"]
        body.append([row["batch"], row["length"], row["tags"]] + [f"{rate:.0f}" for rate in rates.values()]
                    + [f"{rates['seal'] / rates[name]:.2f}" for name in others])
    return [f"### {task}", ""] + common.table(columns, body) + [""]


def goals(rows: List[dict], batch: int = 32) -> List[str]:
    """The issue's goals at `batch`: seal's log-likelihood with gradient >= 1.5x AllenNLP's, its
    Viterbi >= 1x; the smallest ratio over lengths and tag sets."""
    lines = []
    for task, goal in (("log-likelihood", 1.5), ("viterbi", 1.0)):
        ratios = [row["rates"]["seal"] / row["rates"]["allennlp"] for row in rows
                  if row["task"] == task and row["batch"] == batch]
        if ratios:
            verdict = "met" if min(ratios) >= goal else "not met"
            lines.append(f"- {task} at batch {batch}: seal / allennlp from {min(ratios):.2f}x to {max(ratios):.2f}x "
                         f"(goal >= {goal}x: {verdict})")
    return lines + [""]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--tags", type=int, nargs="+", default=[26, 41, 182])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.5, help="stop repeating a call after this long")
    parser.add_argument("--out", default=os.path.join(common.RESULTS, "crf-speed"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = measure(args.batches, args.lengths, args.tags, args.repeats, args.seconds)
    version = common.code_version()
    dirty = " with uncommitted changes in seal/" if version["seal_dirty"] else ""
    body = [f"Code: commit `{(version['commit'] or 'unknown')[:10]}`{dirty}", "",
            "Sequences per second (median time per call); `seal / X` > 1 means seal is faster.", ""]
    body += goals(rows) + markdown(rows, "log-likelihood") + markdown(rows, "viterbi")
    common.report(body, args.out + ".md")
    header = {"command": " ".join(["python"] + sys.argv), "machine": common.machine(), "threads": 1,
              "code_version": version}
    with open(args.out + ".json", "w") as out:  # compact: a line per cell and task
        out.write(json.dumps(header)[:-1] + ', "rows": [\n' + ",\n".join(json.dumps(row) for row in rows) + "\n]}\n")


if __name__ == "__main__":
    main()
