"""Runs one training config under several `-o` overrides (and seeds), in parallel processes, and
writes a table of validation and test metrics: the record of what was tried when tuning.  Each
run's final metrics (compact_runs.py) become the rows of the sweep's study in
`benchmarks/tuning/runs.csv`, replacing that study's earlier rows; the runs must come from one
commit of seal/ without uncommitted changes (common.seal_version; --allow-dirty lifts the latter
for a trial sweep, and the table says so).

Usage:
  .venv/bin/python benchmarks/sweep.py CONFIG --grid GRID --out NAME.md \
      [--seeds 1 2] [--jobs 2] [--names ENTRY ...] [--study NAME] [--runs-csv benchmarks/tuning/runs.csv]
GRID is the name of a grid in benchmarks/tuning/grids.json (the grids of the recorded studies,
e.g. `--grid shipped`) or the path of a JSON file holding one grid.  A grid maps a short name to an
override object with dotted keys (AllenNLP replaces nested objects given in -o rather than merging
them), e.g. {"k3": {"trainer.num_steps.score_nn": 3}}.
"{seed}" in an override's strings becomes the run's seed, e.g. a per-seed checkpoint to start from:
{"warm": {"model.initializer": {"regexes": [["^task_nn\\.", {"type": "pretrained",
"weights_file_path": "runs/ce_seed{seed}/best.th"}]]}}}.
--out is the table's file; the study is named after it (NAME, the file name without .md) unless
--study names it.  A study's record is a section `## NAME: ...` of its data set's note in
benchmarks/tuning/ (the table, and what was read from it) and, for a new grid, the entry NAME of
grids.json.
--metric names the validation / test metric of the table (default example_f1; f1-measure-overall
for span F1, accuracy for letters).
"""
import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import common
import compact_runs

ROOT = common.ROOT
GRIDS = os.path.join(ROOT, "benchmarks", "tuning", "grids.json")
RUNS_CSV = os.path.join(ROOT, "benchmarks", "tuning", "runs.csv")


def for_seed(overrides, seed):
    return {**json.loads(json.dumps(overrides).replace("{seed}", str(seed))), **common.seed_overrides(seed)}


def load_grid(grid, grids_path=GRIDS):
    """The grid `grid` names: the JSON file at that path if there is one, else the entry of that name
    in `grids_path` (a JSON object of grids by name)."""
    if os.path.isfile(grid):
        with open(grid) as handle:
            return json.load(handle)
    with open(grids_path) as handle:
        grids = json.load(handle)
    if grid not in grids:
        raise SystemExit(f"--grid {grid}: no such file, and {grids_path} has no grid of that name; "
                         f"its grids: {', '.join(sorted(grids))}")
    return grids[grid]


def study_name(out, study=None):
    """The study a sweep's runs are recorded under: `study`, else `out`'s file name without extension."""
    return study or os.path.splitext(os.path.basename(out))[0]


def select(grid, names, path):
    """The grid's entries called `names` (all of them when `names` is None)."""
    if names is None:
        return grid
    unknown = [name for name in names if name not in grid]
    if unknown:
        raise SystemExit(f"{path} has no entries {unknown}; it has {list(grid)}")
    return {name: grid[name] for name in names}


def run_dir(runs_dir, name, seed):
    return os.path.join(runs_dir, f"{name}_seed{seed}")


def run(config, name, overrides, seed, runs_dir):
    out = run_dir(runs_dir, name, seed)
    overrides = for_seed(overrides, seed)
    command = [os.path.join(ROOT, ".venv/bin/allennlp"), "train", config, "-s", out, "-f",
               "--include-package", "seal", "-o", json.dumps(overrides)]
    start = time.time()
    code = common.train_recording_version(command, out)
    if code != 0:
        return name, seed, None, time.time() - start
    with open(os.path.join(out, "metrics.json")) as handle:
        return name, seed, json.load(handle), time.time() - start


def record_runs(runs_dir, results, runs_csv, study, allow_dirty):
    """The seal/ version of the finished runs (refusing a mix, common.seal_version), after making
    every started run's row the rows of `study` in `runs_csv` (compact_runs.replace_study)."""
    finished = [{"method": name, "seed": seed, "code_version": common.read_code_version(run_dir(runs_dir, name, seed))}
                for name, seed, metrics, _ in results if metrics is not None]
    version = common.seal_version(finished, allow_dirty)
    started = [run_dir(runs_dir, name, seed) for name, seed, _, _ in results]
    started = [d for d in started if compact_runs.has_record(d)]
    compact_runs.replace_study(runs_csv, study, compact_runs.rows(started))
    return version


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--grid", required=True, help="a grid's name in benchmarks/tuning/grids.json, or a JSON file")
    parser.add_argument("--out", required=True, help="the table's markdown file")
    parser.add_argument("--study", help="the study's name in --runs-csv (default: --out's file name without .md)")
    parser.add_argument("--runs-csv", default=RUNS_CSV, help="the runs' rows go here, as the study's rows")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--runs-dir", default=os.path.join(ROOT, "runs", "sweep"))
    parser.add_argument("--metric", default="example_f1")
    parser.add_argument("--names", nargs="+", help="run only these entries of the grid")
    common.add_allow_dirty(parser)
    args = parser.parse_args()
    grid = select(load_grid(args.grid), args.names, args.grid)
    os.makedirs(args.runs_dir, exist_ok=True)
    jobs = [(args.config, name, overrides, seed, args.runs_dir)
            for name, overrides in grid.items() for seed in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda job: run(*job), jobs))
    version = record_runs(args.runs_dir, results, args.runs_csv, study_name(args.out, args.study), args.allow_dirty)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as out:
        out.write(f"# Sweep of `{args.config}`\n\nCommand: `{' '.join(sys.argv)}`  \n"
                  f"{common.version_line(version)}\n\n")
        out.write(f"| name | seed | best dev {args.metric} | test {args.metric} | best epoch | wall s | overrides |\n"
                  "|---|---|---|---|---|---|---|\n")
        for (name, seed, metrics, seconds), job in zip(results, jobs):
            if metrics is None:
                out.write(f"| {name} | {seed} | failed | | | {seconds:.0f} | `{json.dumps(job[2])}` |\n")
                continue
            dev, test = metrics["best_validation_" + args.metric], metrics["test_" + args.metric]
            out.write(f"| {name} | {seed} | {dev:.4f} | {test:.4f} "
                      f"| {metrics['best_epoch']} | {seconds:.0f} | `{json.dumps(job[2])}` |\n")
    print(open(args.out).read())


if __name__ == "__main__":
    main()
