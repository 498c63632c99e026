"""Runs one training config under several `-o` overrides (and seeds), in parallel processes, and
writes a table of validation and test metrics: the record of what was tried when tuning.

Usage:
  .venv/bin/python benchmarks/sweep.py CONFIG --grid GRID.json --out benchmarks/tuning/NAME.md \
      [--seeds 1 2] [--jobs 2] [--names NAME ...]
GRID.json maps a short name to an override object with dotted keys (AllenNLP replaces nested
objects given in -o rather than merging them), e.g. {"k3": {"trainer.num_steps.score_nn": 3}}.
"{seed}" in an override's strings becomes the run's seed, e.g. a per-seed checkpoint to start from:
{"warm": {"model.initializer": {"regexes": [["^task_nn\\.", {"type": "pretrained",
"weights_file_path": "runs/ce_seed{seed}/best.th"}]]}}}.
--metric names the validation / test metric of the table (default example_f1; f1-measure-overall
for span F1, accuracy for letters).
"""
import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def seed_overrides(seed):
    return {"random_seed": seed, "numpy_seed": seed, "pytorch_seed": seed}


def for_seed(overrides, seed):
    return {**json.loads(json.dumps(overrides).replace("{seed}", str(seed))), **seed_overrides(seed)}


def select(grid, names, path):
    """The grid's entries called `names` (all of them when `names` is None)."""
    if names is None:
        return grid
    unknown = [name for name in names if name not in grid]
    if unknown:
        raise SystemExit(f"{path} has no entries {unknown}; it has {list(grid)}")
    return {name: grid[name] for name in names}


def run(config, name, overrides, seed, runs_dir):
    out = os.path.join(runs_dir, f"{name}_seed{seed}")
    overrides = for_seed(overrides, seed)
    command = [os.path.join(ROOT, ".venv/bin/allennlp"), "train", config, "-s", out, "-f",
               "--include-package", "seal", "-o", json.dumps(overrides)]
    start = time.time()
    with open(out + ".log", "w") as log:
        code = subprocess.call(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if code != 0:
        return name, seed, None, time.time() - start
    with open(os.path.join(out, "metrics.json")) as handle:
        return name, seed, json.load(handle), time.time() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--grid", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--runs-dir", default=os.path.join(ROOT, "runs", "sweep"))
    parser.add_argument("--metric", default="example_f1")
    parser.add_argument("--names", nargs="+", help="run only these entries of the grid")
    args = parser.parse_args()
    with open(args.grid) as handle:
        grid = select(json.load(handle), args.names, args.grid)
    os.makedirs(args.runs_dir, exist_ok=True)
    jobs = [(args.config, name, overrides, seed, args.runs_dir) for name, overrides in grid.items() for seed in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda job: run(*job), jobs))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as out:
        out.write(f"# Sweep of `{args.config}`\n\nCommand: `{' '.join(sys.argv)}`\n\n")
        out.write(f"| name | seed | best dev {args.metric} | test {args.metric} | best epoch | wall s | overrides |\n"
                  "|---|---|---|---|---|---|---|\n")
        for (name, seed, metrics, seconds), job in zip(results, jobs):
            if metrics is None:
                out.write(f"| {name} | {seed} | failed | | | {seconds:.0f} | `{json.dumps(job[2])}` |\n")
                continue
            out.write(f"| {name} | {seed} | {metrics['best_validation_' + args.metric]:.4f} | {metrics['test_' + args.metric]:.4f} "
                      f"| {metrics['best_epoch']} | {seconds:.0f} | `{json.dumps(job[2])}` |\n")
    print(open(args.out).read())


if __name__ == "__main__":
    main()
