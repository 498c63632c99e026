"""What every benchmark script shares: training a config over seeds with `allennlp train`, recording
the code version of each run and refusing to put runs of different versions of `seal/` in one
table, reading its metrics.json, timing an archived model on a test file, summarising over seeds,
and writing `<results>/<dataset>.{json,md,runs.csv,png}`.  The task scripts (multilabel.py,
sequence_tagging.py, segmentation.py) say which configs, metrics and units they report.
"""
import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence, Union

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")


def data_paths(config: str) -> dict:
    """train/dev/test paths of a config (relative paths resolved from the repo root).  The
    environment gives the config's external variables, as for `allennlp train`."""
    import _jsonnet

    evaluated = json.loads(_jsonnet.evaluate_file(config, ext_vars=dict(os.environ)))
    keys = {"train": "train_data_path", "dev": "validation_data_path", "test": "test_data_path"}
    return {split: os.path.join(ROOT, evaluated[key]) for split, key in keys.items()}


VERSION_FILE = "code_version.json"


def git(*args: str) -> str:
    """The output of `git <args>` in the repository (CalledProcessError, OSError outside one)."""
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def code_version() -> dict:
    """The code a run is made with: the commit checked out, the last commit that changed `seal/`,
    whether `seal/` differs from it (edited, staged or untracked files), and `seal_tree`, the git
    tree id of `seal/` as it is on disk (what a later commit of exactly these files will hold).
    All None outside a git checkout."""
    try:
        return {"commit": git("rev-parse", "HEAD"), "seal_commit": git("log", "-1", "--format=%H", "--", "seal"),
                "seal_dirty": bool(git("status", "--porcelain", "--", "seal")), "seal_tree": seal_tree()}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "seal_commit": None, "seal_dirty": None, "seal_tree": None}


def seal_tree() -> str:
    """The git tree id of the working tree's `seal/` (ignored files left out), computed in a
    throw-away index so that the repository's own index is not touched."""
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "GIT_INDEX_FILE": os.path.join(scratch, "index")}
        subprocess.run(["git", "add", "--all", "--", "seal"], cwd=ROOT, env=env, check=True, capture_output=True)
        return subprocess.run(["git", "write-tree", "--prefix=seal/"], cwd=ROOT, env=env, check=True,
                              capture_output=True, text=True).stdout.strip()


def commit_with_seal_tree(tree: str) -> Optional[str]:
    """The oldest commit whose `seal/` is exactly `tree`, or None."""
    for commit in reversed(git("log", "--format=%H", "--", "seal").split()):
        if git("rev-parse", f"{commit}:seal") == tree:
            return commit
    return None


def committed_version(version: dict) -> dict:
    """`version` of a run made with uncommitted `seal/` changes that were later committed unchanged
    is that commit's clean version (`seal_committed_after_run` marks it); any other is returned as is."""
    if not version.get("seal_dirty") or not version.get("seal_tree"):
        return version
    try:
        commit = commit_with_seal_tree(version["seal_tree"])
    except (OSError, subprocess.CalledProcessError):
        return version
    if commit is None:
        return version
    return {**version, "seal_commit": commit, "seal_dirty": False, "seal_committed_after_run": True}


def read_code_version(run_dir: str) -> Optional[dict]:
    """The run's `code_version.json`, None for a run made before the scripts recorded it."""
    path = os.path.join(run_dir, VERSION_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def train_recording_version(command: Sequence[str], out: str) -> int:
    """Runs `allennlp train ... -s out` (its output in `<out>.log`) and, if it succeeds, writes the
    code it ran with to `<out>/code_version.json`.  The version is taken before the start, when the
    process imports `seal/` (`-f` empties `out`, so it is written after)."""
    version = code_version()
    with open(out + ".log", "w") as log:
        code = subprocess.call(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if code == 0:
        with open(os.path.join(out, VERSION_FILE), "w") as handle:
            json.dump(version, handle, indent=1)
    return code


def seal_version(runs: Sequence[dict], allow_dirty: bool = False) -> dict:
    """The one version of `seal/` that made `runs` (dicts with `method`, `seed`, `code_version`):
    `seal_commit`, `seal_dirty` and the `commits` checked out.  A table must come from one version
    of `seal/`, so this refuses runs without a recorded version, runs made with different last
    commits of `seal/` and, unless `allow_dirty`, runs made with uncommitted changes in `seal/`
    (or outside a git checkout) that no commit holds: a run made before its `seal/` files were
    committed unchanged counts as made at that commit (its recorded `seal_tree` is that commit's)."""
    def names(group):
        return ", ".join(f"{run['method']} seed {run['seed']}" for run in group)

    unknown = [run for run in runs if not run.get("code_version")]
    if unknown:
        raise SystemExit(f"no {VERSION_FILE} in the run directories of {names(unknown)}: they were made before "
                         "the scripts recorded the code version, so they cannot join a table; rerun them")
    runs = [{**run, "code_version": committed_version(run["code_version"])} for run in runs]
    by_commit: Dict[Optional[str], List[dict]] = {}
    for run in runs:
        by_commit.setdefault(run["code_version"]["seal_commit"], []).append(run)
    if len(by_commit) > 1:
        versions = "; ".join(f"seal/ at {commit or 'unknown (not a git checkout)'}: {names(group)}"
                             for commit, group in by_commit.items())
        raise SystemExit(f"runs made with different versions of seal/ cannot share a table ({versions}); "
                         "rerun the older ones with the current code")
    dirty = [run for run in runs if run["code_version"]["seal_dirty"] is not False]
    if dirty and not allow_dirty:
        raise SystemExit(f"{names(dirty)} were made with uncommitted changes in seal/ (or outside a git checkout), "
                         "which no commit reproduces; commit seal/ and rerun them, or pass --allow-dirty for a "
                         "smoke test (the table then says so)")
    return {"seal_commit": runs[0]["code_version"]["seal_commit"] if runs else None, "seal_dirty": bool(dirty),
            "commits": sorted({run["code_version"]["commit"] or "unknown" for run in runs})}


def add_allow_dirty(parser) -> None:
    parser.add_argument("--allow-dirty", action="store_true",
                        help="let runs made with uncommitted changes in seal/ form a table (smoke tests); "
                             "the table says so. Runs of different seal/ commits are refused regardless")


ALLENNLP_DEFAULT_SEEDS = {"random_seed": 13370, "numpy_seed": 1337, "pytorch_seed": 133}


def seed_overrides(seed: Union[int, str]) -> dict:
    """The seed overrides of a run: the same integer for AllenNLP's three seeds, or AllenNLP's own
    defaults for `"default"` (what a config without seeds, like the README's main job, trains with)."""
    if seed == "default":
        return dict(ALLENNLP_DEFAULT_SEEDS)
    return {"random_seed": int(seed), "numpy_seed": int(seed), "pytorch_seed": int(seed)}


def run_dir(runs_dir: str, method: str, seed: Union[int, str], name: Optional[str] = None) -> str:
    """The serialization directory `train` uses: `<runs_dir>/<name>`, by default `<method>_seed<seed>`."""
    return os.path.join(runs_dir, name or f"{method}_seed{seed}")


def finished(serialization_dir: str) -> bool:
    """Whether the run finished (it has a metrics.json): `train` reuses such a run."""
    return os.path.exists(os.path.join(serialization_dir, "metrics.json"))


def train(config: str, method: str, seed: Union[int, str], runs_dir: str, metric_keys: Sequence[str],
          overrides: Optional[dict] = None, name: Optional[str] = None) -> dict:
    """One `allennlp train` of `config` with `seed` (and further `overrides`) into
    `<runs_dir>/<name>`, by default `<method>_seed<seed>` (its log in `<that>.log`, the code version
    in its `code_version.json`; a finished run, one with a metrics.json, is reused; an interrupted
    one has an archive but no metrics.json and is trained again).  Returns the run's `metric_keys`
    from metrics.json, its best epoch, the epochs it ran, the seconds per epoch (training_duration,
    which includes validation, over the epochs) and its code version."""
    out = run_dir(runs_dir, method, seed, name)
    command = [os.path.join(ROOT, ".venv", "bin", "allennlp"), "train", config, "-s", out, "-f",
               "--include-package", "seal", "-o", json.dumps({**seed_overrides(seed), **(overrides or {})})]
    if not finished(out):
        code = train_recording_version(command, out)
        if code != 0:
            raise SystemExit(f"{method} seed {seed} failed (exit code {code}); its log: {out}.log")
    return read_run(out, method, seed, metric_keys)


def read_run(out: str, method: str, seed: Union[int, str], metric_keys: Sequence[str]) -> dict:
    """The run record `train` returns, of the finished run in serialization directory `out`."""
    with open(os.path.join(out, "metrics.json")) as handle:
        metrics = json.load(handle)
    epochs = metrics["epoch"] + 1
    # a run derived from another one (e.g. segmentation.py's dvn_crop_average) has no epoch records
    duration = training_seconds(out) or duration_seconds(metrics["training_duration"])
    run = {"method": method, "seed": seed, "archive": os.path.join(out, "model.tar.gz"),
           "code_version": read_code_version(out)}
    run.update({key: metrics[key] for key in metric_keys})
    run.update({"best_epoch": metrics["best_epoch"], "epochs": epochs, "epoch_seconds": duration / epochs})
    return run


def duration_seconds(duration: str) -> float:
    """AllenNLP's "H:MM:SS.ffffff" in seconds."""
    hours, minutes, seconds = duration.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def epoch_metrics(serialization_dir: str) -> List[dict]:
    """A run's `metrics_epoch_<n>.json` files in epoch order, each with `cumulative_seconds`
    added: the wall time of training (validation included) up to the end of that epoch.  AllenNLP
    restarts `training_duration` at zero when a run is resumed with `--recover`, so the time is
    summed over the segments; a resumed segment's first epoch also pays for replaying the data
    order of the epochs before it."""
    epoch_files = glob.glob(os.path.join(serialization_dir, "metrics_epoch_*.json"))
    epochs = sorted(int(name.rsplit("_", 1)[1][: -len(".json")]) for name in epoch_files)
    finished_segments, previous, rows = 0.0, 0.0, []
    for epoch in epochs:
        with open(os.path.join(serialization_dir, f"metrics_epoch_{epoch}.json")) as handle:
            metrics = json.load(handle)
        elapsed = duration_seconds(metrics["training_duration"])
        if elapsed < previous:
            finished_segments += previous
        previous = elapsed
        rows.append({**metrics, "cumulative_seconds": finished_segments + elapsed})
    return rows


def training_seconds(serialization_dir: str) -> float:
    """Wall time of a run's training (validation included), summed over `--recover` segments."""
    rows = epoch_metrics(serialization_dir)
    return rows[-1]["cumulative_seconds"] if rows else 0.0


def train_all(seeds: Sequence[int], methods: Sequence[str], train_one: Callable[[str, int], dict],
              allow_dirty: bool = False) -> List[dict]:
    """`train_one(method, seed)` for every seed and method (seed-major, one run at a time),
    printing each run's numbers as it finishes.  Stops at the first run whose `seal/` version
    cannot share a table with the runs before it (`seal_version`)."""
    runs = []
    for seed in seeds:
        for method in methods:
            runs.append(train_one(method, seed))
            print(json.dumps({k: v for k, v in runs[-1].items() if k not in ("archive", "code_version")}), flush=True)
            seal_version(runs, allow_dirty)
    return runs


def finished_runs(seeds: Sequence[int], methods: Sequence[str], runs_dir: str,
                  train_one: Callable[[str, int], dict], allow_dirty: bool = False) -> List[dict]:
    """`train_one(method, seed)` for the runs of `methods` and `seeds` that have finished in
    `runs_dir` (reading them, training nothing), checked to share one `seal/` version; an error
    when none has."""
    pairs = [(method, seed) for seed in seeds for method in methods if finished(run_dir(runs_dir, method, seed))]
    if not pairs:
        raise SystemExit(f"no finished run of {', '.join(methods)} for seeds {list(seeds)} in {runs_dir}")
    runs = [train_one(method, seed) for method, seed in pairs]
    seal_version(runs, allow_dirty)
    return runs


def first_archive(runs: List[dict], method: str) -> str:
    """The archive of the method's first run (its first seed)."""
    return next(r["archive"] for r in runs if r["method"] == method)


def gold_field(model) -> str:
    """The field the gold output is in: the SEAL models' `label_field`; allennlp-models' taggers' `tags`."""
    return getattr(model, "label_field", "tags")


def throughput(archive: str, test_path: str, label_field: Callable[[object], str],
               units: Optional[Callable[[dict], int]] = None, repeats: int = 5) -> float:
    """Test units per second of the archived model's predictor on `test_path` (`model_throughput`),
    read with the reader `allennlp evaluate` uses: a config's training reader may cut its file
    (max_instances)."""
    from allennlp.models.archival import load_archive

    loaded = load_archive(archive)
    instances = list(loaded.validation_dataset_reader.read(test_path))
    return model_throughput(loaded.model, instances, label_field, units, repeats)


def model_throughput(model, instances: Sequence, label_field: Callable[[object], str],
                     units: Optional[Callable[[dict], int]] = None, repeats: int = 5,
                     clock: Callable[[], float] = time.perf_counter) -> float:
    """Test units per second of `model`'s predictor on `instances`: forward in eval mode under
    no_grad on one torch thread, batches of 256, best of `repeats` passes over them.
    Frozen-cached embedders run their transformer (no cached vectors), in one pass.

    `label_field(model)` names the gold field left out of every instance first (the instances
    themselves are not changed).  `units(batch)` counts the units of a tensorised batch (e.g. its
    real tokens); without it a unit is an instance.  `clock` gives the seconds (wall time, or
    e.g. `time.process_time` for the process's CPU time on a machine shared with other jobs)."""
    import torch
    from allennlp.data.data_loaders import SimpleDataLoader

    from seal.modules.token_embedders.frozen_cached import FrozenCachedEmbedder, forget_all

    model = model.eval()
    instances = without_field(instances, label_field(model))
    loader = SimpleDataLoader(instances, 256, vocab=model.vocab)
    batches = list(loader)
    count = len(instances) if units is None else sum(int(units(batch)) for batch in batches)
    torch.set_num_threads(1)
    frozen = [module.without_disk_cache() for module in model.modules() if isinstance(module, FrozenCachedEmbedder)]
    timings = []
    for _ in range(1 if frozen else repeats):  # a transformer pass is long enough to time once
        forget_all()  # time the frozen transformer too, not a cache lookup
        start = clock()
        with torch.no_grad():
            for batch in batches:
                model(**batch)
        timings.append(clock() - start)
    return count / min(timings)


def without_field(instances: Sequence, field: str) -> list:
    """Copies of `instances` without `field` (e.g. the gold output, as a predictor sees them)."""
    from allennlp.data import Instance

    return [Instance({name: value for name, value in instance.fields.items() if name != field})
            for instance in instances]


def rates(runs: List[dict], methods: Sequence[str], rate: Callable[[str, str], float]) -> Dict[str, float]:
    """`rate(method, archive)` of each method's first-seed archive."""
    return {method: rate(method, first_archive(runs, method)) for method in methods}


def mean_std(values: Sequence[float]) -> tuple:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summary_entry(method: str, rows: List[dict], main_key: str, name: str, mean_keys: Sequence[str]) -> dict:
    """A method's row of the summary: its seed count, the mean and std of `main_key` (as
    `<name>_mean`, `<name>_std`) and the means of those `mean_keys` its rows have."""
    mean, std = mean_std([r[main_key] for r in rows])
    entry = {"method": method, "seeds": len(rows), f"{name}_mean": mean, f"{name}_std": std}
    for key in mean_keys:
        if key in rows[0]:
            entry[key] = statistics.mean(r[key] for r in rows)
    return entry


def machine() -> str:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, torch {torch.__version__}"


def table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    """A markdown table's lines."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def seal_vs_cross_entropy(by_method: Dict[str, dict], rate_key: str, cost: str = "test-time cost",
                          goal: Optional[float] = None) -> List[str]:
    """seal_dynamic_nce's test-time cost (from the `rate_key` rates) and epoch time against
    cross_entropy's, with the issue's goal for the first where there is one.  A rate that is
    missing or None (not timed) is said to be so rather than compared."""
    seal, ce = by_method.get("seal_dynamic_nce"), by_method.get("cross_entropy")
    if not (seal and ce):
        return []
    epochs = f"- seal_dynamic_nce epoch / cross_entropy epoch: {seal['epoch_seconds'] / ce['epoch_seconds']:.2f}x"
    if seal.get(rate_key) is None or ce.get(rate_key) is None:
        return [f"- seal_dynamic_nce {cost}: not timed in this run (time the archives with benchmarks/throughput.py)",
                epochs]
    ratio = ce[rate_key] / seal[rate_key]
    note = "" if goal is None else f" (issue goal: within {goal}x: {'met' if ratio <= goal else 'not met'})"
    return [f"- seal_dynamic_nce {cost} / cross_entropy's: {ratio:.2f}x{note}", epochs]


def rate_cell(rate: Optional[float]) -> str:
    """A table's test-time rate: rounded, or "not timed" for None."""
    return "not timed" if rate is None else f"{rate:.0f}"


def speedup_over(by_method: Dict[str, dict], rate_key: str, slow: str, fast: Sequence[str] = ("seal_dynamic_nce",),
                 goal: Optional[float] = None) -> List[str]:
    """How many times faster each of the `fast` methods predicts than `slow` (a method with
    gradient-based inference), from their `rate_key` rates, with the issue's goal (at least `goal`
    times) where there is one.  Methods absent or not timed are left out."""
    lines = []
    low = by_method.get(slow, {}).get(rate_key)
    for method in fast:
        high = by_method.get(method, {}).get(rate_key)
        if not (low and high):
            continue
        ratio = high / low
        note = "" if goal is None else f" (issue goal: at least {goal:g}x: {'met' if ratio >= goal else 'not met'})"
        lines.append(f"- {method} test-time speed / {slow}'s (GBI): {ratio:.1f}x{note}")
    return lines


def points_over(by_method: Dict[str, dict], name: str, points: str, method: str = "seal_dynamic_nce",
                peers: Sequence[str] = ("cross_entropy",), goals: Optional[Dict[str, float]] = None) -> List[str]:
    """`method`'s mean of the main metric (`<name>_mean` of the summary) minus each present peer's,
    in `points` (hundredths), with both means.  `goals` maps a peer to the issue's least gap in
    points: the gap must be above zero and at least that."""
    lines = []
    ours = by_method.get(method)
    for peer in peers:
        if not (ours and peer in by_method):
            continue
        mine, theirs = ours[f"{name}_mean"], by_method[peer][f"{name}_mean"]
        gap = round(100 * (mine - theirs), 9)  # 0.81 - 0.80 is not quite 0.01 in floating point
        note = ""
        if goals and peer in goals:
            goal = goals[peer]
            wanted = f"at least {goal:+.2f} points" if goal > 0 else "above it"
            note = f" (issue goal: {wanted}: {'met' if gap > 0 and gap >= goal else 'not met'})"
        lines.append(f"- {method} minus {peer}: {gap:+.2f} {points} points ({mine:.4f} vs {theirs:.4f}){note}")
    return lines


def version_line(version: dict) -> str:
    """A table's code line: the `seal/` commit and the commits its runs were made at (from
    `seal_version`), or for a table made before runs recorded it, the commit that recorded them."""
    if "seal_commit" not in version:
        return (f"Code: runs recorded in commit `{version['recorded_in_commit'][:10]}` (made at or before it; "
                f"the scripts did not record the code version then)  ")
    commits = ", ".join(f"`{commit[:10]}`" for commit in version["commits"])
    dirty = " with uncommitted changes in seal/ (no commit reproduces them)" if version["seal_dirty"] else ""
    return f"Code: seal/ as of commit `{(version['seal_commit'] or 'unknown')[:10]}`{dirty}; runs made at {commits}  "


def header(command: str, seeds: Optional[Sequence[int]] = None, version: Optional[dict] = None) -> List[str]:
    """The lines above every benchmark table: the command, the machine, (if given) the seeds and
    the code version (`version_line`)."""
    threads = os.environ.get("OMP_NUM_THREADS", "all")
    lines = [f"Command: `{command}`  ", f"Machine: {machine()}, torch threads per process: {threads}  "]
    lines += [f"Seeds: {seeds}  "] if seeds is not None else []
    return lines + ([version_line(version)] if version is not None else []) + [""]


def write(results_dir: str, dataset: str, command: str, seeds: Sequence[int], record: dict,
          lines: List[str], bars: List[dict], ylabel: str) -> None:
    """Writes `<dataset>.json` (command, machine, seeds, code version, then `record`),
    `<dataset>.md` (a header with command, machine, seeds and code version, then `lines`),
    `<dataset>.runs.csv` (a row per run of `record["runs"]`, compact_runs.py) and `<dataset>.png`
    (`bars`: a bar per dict of name, mean, std), and prints the markdown.  The runs must come from
    one commit of `seal/` (`seal_version`; train_all has already refused uncommitted changes)."""
    import compact_runs

    version = seal_version(record["runs"], allow_dirty=True)
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, f"{dataset}.json"), "w") as out:
        json.dump({"command": command, "machine": machine(), "seeds": seeds, "code_version": version, **record},
                  out, indent=1)
    lines = header(command, seeds, version) + lines
    with open(os.path.join(results_dir, f"{dataset}.md"), "w") as out:
        out.write("\n".join(lines) + "\n")
    run_dirs = [os.path.dirname(run["archive"]) for run in record["runs"]]
    compact_runs.write_csv(os.path.join(results_dir, f"{dataset}.runs.csv"), compact_runs.rows(run_dirs))
    plot(os.path.join(results_dir, f"{dataset}.png"), dataset, bars, ylabel)
    if os.path.abspath(results_dir) == RESULTS:  # the project's tables: refresh RESULTS.md
        import write_results

        write_results.main()
    print("\n".join(lines))


def plot(path: str, dataset: str, bars: List[dict], ylabel: str) -> None:
    """Bars of mean ± std over seeds, SEAL methods in orange."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    names = [b["name"] for b in bars]
    ax.bar(range(len(bars)), [b["mean"] for b in bars], yerr=[b["std"] for b in bars], capsize=4,
           color=["tab:orange" if "seal" in n else "tab:blue" for n in names])
    ax.set_xticks(range(len(bars)), names, rotation=35, ha="right", fontsize=8)
    low = min(b["mean"] - b["std"] for b in bars)
    ax.set_ylim(max(0.0, low - 0.05), min(1.0, max(b["mean"] + b["std"] for b in bars) + 0.03))
    ax.set_ylabel(ylabel)
    ax.set_title(f"{dataset}: mean ± std over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def named_archives(arguments: Sequence[str]) -> List[tuple]:
    """`NAME=path/to/model.tar.gz` command-line arguments -> [(name, path), ...]."""
    pairs = [argument.split("=", 1) for argument in arguments]
    bad = [argument for argument, pair in zip(arguments, pairs) if len(pair) != 2]
    if bad:
        raise SystemExit(f"expected NAME=ARCHIVE, got {bad}")
    return [tuple(pair) for pair in pairs]


def report(body: Sequence[str], out: Optional[str] = None) -> str:
    """`body` (markdown lines) under the command line and the machine; printed, and written to `out`."""
    text = "\n".join(header(" ".join(["python"] + sys.argv)) + list(body)) + "\n"
    print(text)
    if out:
        with open(out, "w") as handle:
            handle.write(text)
    return text
