"""OCR in the layout of Shevchenko & Osokin, "Scaling Matters in Deep Structured-Prediction Models"
(issue #39): the linear-chain CRF over a per-letter LeNet (no recurrent layer, a 26x26 pairwise
matrix) trained by each objective under each training regime, over seeds; test letter accuracy on
fold 0, mean ± std.

Objectives: the configs `training_configs/sequence_tagging/ocr_crf_<objective>.jsonnet`,
`loglik` (the log-likelihood), `marginal_ce` (cross-entropy on the exact marginals), `ssvm` and
`mean_field_ce` (cross-entropy on the mean-field marginals); docs/crf.md.

Regimes: a shipped config trains jointly without scaling; this script makes every other regime
by `-o` overrides of it (recorded in each run's config.json), built from
training_configs/sequence_tagging/sequence_tagging.libsonnet where it has a helper:

    joint                no override
    stage                trainer.parameter_phases: st.crf_stage(--stage-epochs) (unary epochs, pairwise
                         epochs, then joint until the end; a single number: pairwise until the end),
                         and trainer.patience null (early stopping would count the unary phase's
                         epochs; best.th is the best dev epoch of any phase)
    online               trainer.callbacks: the config's plus st.crf_online_scale(--online-batches)
    offline_normalise    model.task_nn.scaling 'normalise' and model.task_nn.alpha
    offline_regulariser  model.task_nn.ratio_regularizer (--ratio-lambda) and model.task_nn.alpha

The offline regimes run once per alpha of --alphas; with several, the table reports, per objective
and regime, the alpha of the best mean dev letter accuracy (fold 1) over the seeds (the offline
scale is a hyperparameter chosen on dev), and the details table lists every alpha.

For each objective, regime (and alpha) and seed it runs `allennlp train` (one run at a time, or
--jobs at once) into --runs-dir, a run `<objective>_<regime>[_alpha<a>]_seed<seed>`; a finished run
(one with a metrics.json) is reused.  All runs of a table must have been made with one commit of seal/ and no
uncommitted changes in it (common.seal_version; --allow-dirty lifts the latter for smoke tests).

Writes `<results-dir>/<name>.{json,md,runs.csv,png}` (default name ocr-crf-scaling; the png: letter
accuracy per objective, a bar per regime) and `<results-dir>/ocr-crf-norm-ratio.png`: the training
norm ratio `||U|| / ||W||` (`training_norm_ratio` of metrics_epoch_*.json, docs/crf.md) per epoch of
one objective's regimes (--ratio-objective), a line per seed.  The json holds every run's per-epoch
norms.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/crf_scaling.py [--objectives ...] [--regimes ...]
           [--seeds 1 2 3] [--runs-dir runs/ocr_crf_scaling]
A look at the runs finished so far, training nothing and leaving the project's tables alone:
    .venv/bin/python benchmarks/crf_scaling.py --finished-only --results-dir /tmp/ocr_crf_results
Smoke test on the fixtures (from the repository root, where the fixture configs' data paths start):
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/crf_scaling.py --config-dir fixtures/configs \\
        --config-prefix ocr_small_crf --seeds 1 --stage-epochs 1 1 --online-batches 2 \\
        --runs-dir /tmp/crfbench --results-dir /tmp/crfbench_results --allow-dirty
"""
import argparse
import json
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence

import common

ROOT = common.ROOT
LIBSONNET = os.path.join(ROOT, "training_configs", "sequence_tagging", "sequence_tagging.libsonnet")
NAME = "ocr-crf-scaling"
RATIO_PLOT = "ocr-crf-norm-ratio.png"
OBJECTIVES = {"loglik": "log-likelihood", "marginal_ce": "CE (marginals)", "ssvm": "SSVM",
              "mean_field_ce": "CE (mean field)"}
REGIMES = ["stage", "joint", "online", "offline_normalise", "offline_regulariser"]
OFFLINE = ("offline_normalise", "offline_regulariser")
# The test metrics (metrics.json key, name in the summary); the first is the main one.  The dev
# letter accuracy chooses the offline regimes' alpha.
METRICS = [("test_accuracy", "accuracy"), ("test_sequence_accuracy", "word_accuracy"),
           ("best_validation_accuracy", "dev_accuracy")]
# The checks are stated for the paper's "CE" objective, read as cross-entropy on the
# marginals (the issue lists the log-likelihood as a separate objective): joint below stage, online
# at least stage.
GOAL_OBJECTIVE = "marginal_ce"
BEST_GOAL = 0.972  # the issue: the best letter accuracy of this architecture at least 97.2%
EPOCH_METRICS = ["norm_ratio", "unary_norm", "pairwise_norm", "unary_scale"]


def config_path(config_dir: str, prefix: str, objective: str) -> str:
    return os.path.join(config_dir, f"{prefix}_{objective}.jsonnet")


def libsonnet(expression: str) -> dict:
    """`expression` evaluated with `st` the sequence-tagging libsonnet."""
    import _jsonnet

    snippet = f"local st = import {json.dumps(LIBSONNET)}; {expression}"
    return json.loads(_jsonnet.evaluate_snippet("crf_scaling", snippet))


def evaluated(config: str) -> dict:
    """The config as `allennlp train` reads it (external variables from the environment)."""
    import _jsonnet

    return json.loads(_jsonnet.evaluate_file(config, ext_vars=dict(os.environ)))


def regime_overrides(regime: str, config: dict, stage_epochs: Sequence[int] = (20, 10), online_batches: int = 20,
                     alpha: Optional[float] = None, ratio_lambda: float = 0.1) -> dict:
    """The `-o` overrides (dotted keys) that turn `config` (an evaluated shipped config: joint
    training, no scaling) into `regime`; `alpha` is required by the offline regimes."""
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r}; one of {REGIMES}")
    if regime in OFFLINE and alpha is None:
        raise ValueError(f"{regime} needs alpha")
    if regime == "joint":
        return {}
    if regime == "stage":
        unary, pairwise = stage_epochs[0], (stage_epochs[1] if len(stage_epochs) > 1 else None)
        phases = libsonnet(f"st.crf_stage({int(unary)}, {json.dumps(pairwise)})")["parameter_phases"]
        return {"trainer.parameter_phases": phases, "trainer.patience": None}
    if regime == "online":
        online = libsonnet(f"st.crf_online_scale({int(online_batches)})")["callbacks"]
        return {"trainer.callbacks": config["trainer"].get("callbacks", []) + online}
    if regime == "offline_normalise":
        return {"model.task_nn.scaling": "normalise", "model.task_nn.alpha": alpha}
    return {"model.task_nn.ratio_regularizer": ratio_lambda, "model.task_nn.alpha": alpha}


def variant_name(objective: str, regime: str, alpha: Optional[float] = None) -> str:
    """A run's method name (its run directory `<name>_seed<seed>`)."""
    return f"{objective}_{regime}" + ("" if alpha is None else f"_alpha{alpha:g}")


def variants(objectives: Sequence[str], regimes: Sequence[str], alphas: Sequence[float]) -> List[dict]:
    """Every (objective, regime, alpha) cell to train, objective-major in the table's order."""
    cells = []
    for objective in objectives:
        for regime in regimes:
            for alpha in (alphas if regime in OFFLINE else [None]):
                cells.append({"name": variant_name(objective, regime, alpha), "objective": objective,
                              "regime": regime, "alpha": alpha})
    return cells


def norm_history(run_dir: str) -> List[dict]:
    """Per epoch of a run (1-based `epoch`): the CRF's training norms (None where not recorded, e.g.
    the ratio while `W = 0`) and the dev letter accuracy."""
    rows = []
    for index, metrics in enumerate(common.epoch_metrics(run_dir)):
        row = {"epoch": index + 1, "dev_accuracy": metrics.get("validation_accuracy")}
        row.update({name: metrics.get(f"training_{name}") for name in EPOCH_METRICS})
        rows.append(row)
    return rows


def collect_runs(cells: List[dict], configs: Dict[str, str], seeds: Sequence[int], runs_dir: str,
                 allow_dirty: bool, finished_only: bool, options: dict, jobs: int = 1) -> List[dict]:
    """Every cell's run for every seed (trained, `jobs` at a time, or reused when finished),
    seed-major, each with its objective, regime, alpha, overrides and per-epoch norms.  With
    `finished_only` nothing is trained: only the runs that have finished are read."""
    by_name = {cell["name"]: cell for cell in cells}
    base = {objective: evaluated(config) for objective, config in configs.items()}
    keys = [key for key, _ in METRICS]

    def train_one(name: str, seed: int) -> dict:
        cell = by_name[name]
        overrides = regime_overrides(cell["regime"], base[cell["objective"]], alpha=cell["alpha"], **options)
        run = common.train(configs[cell["objective"]], name, seed, runs_dir, keys, overrides)
        run.update({key: cell[key] for key in ("objective", "regime", "alpha")}, overrides=overrides)
        return run

    if finished_only:
        runs = common.finished_runs(seeds, list(by_name), runs_dir, train_one, allow_dirty)
    else:
        if jobs > 1:  # train `jobs` runs at a time first; train_all then reuses the finished runs
            with ThreadPoolExecutor(jobs) as pool:
                list(pool.map(lambda pair: train_one(*pair), [(name, seed) for seed in seeds for name in by_name]))
        runs = common.train_all(seeds, list(by_name), train_one, allow_dirty)
    for run in runs:
        run["norms"] = norm_history(os.path.dirname(run["archive"]))
    return runs


def summarise(cells: List[dict], runs: List[dict]) -> List[dict]:
    """A row per cell with runs: mean ± std over seeds of the metrics, mean epochs, best epoch and
    seconds per epoch; `chosen` marks, per objective and regime, the alpha of the best mean dev
    accuracy (the only one for the regimes without alpha)."""
    table = []
    for cell in cells:
        rows = [run for run in runs if run["method"] == cell["name"]]
        if not rows:  # --finished-only: none of the cell's runs has finished
            continue
        entry = common.summary_entry(cell["name"], rows, METRICS[0][0], METRICS[0][1],
                                     ["epochs", "best_epoch", "epoch_seconds"])
        for key, name in METRICS[1:]:
            entry[f"{name}_mean"], entry[f"{name}_std"] = common.mean_std([run[key] for run in rows])
        entry.update({key: cell[key] for key in ("objective", "regime", "alpha")})
        table.append(entry)
    for entry in table:
        rivals = [e for e in table if (e["objective"], e["regime"]) == (entry["objective"], entry["regime"])]
        entry["chosen"] = entry is max(rivals, key=lambda e: e["dev_accuracy_mean"])
    return table


def chosen(table: List[dict]) -> Dict[tuple, dict]:
    """(objective, regime) -> its reported row."""
    return {(e["objective"], e["regime"]): e for e in table if e["chosen"]}


def percent(entry: dict, name: str = "accuracy") -> str:
    return f"{100 * entry[f'{name}_mean']:.2f} ± {100 * entry[f'{name}_std']:.2f}"


def checks(table: List[dict]) -> List[str]:
    """The issue's comparisons for the paper's CE objective (joint below stage, online at least
    stage) and its bound on the best letter accuracy of any cell."""
    cells, lines = chosen(table), []
    stage, joint, online = (cells.get((GOAL_OBJECTIVE, regime)) for regime in ("stage", "joint", "online"))
    if stage and joint:
        gap = 100 * (joint["accuracy_mean"] - stage["accuracy_mean"])
        lines.append(f"- {GOAL_OBJECTIVE}, joint minus stage: {gap:+.2f} points (the paper: joint without scaling "
                     f"below stage: {'yes' if gap < 0 else 'no'})")
    if stage and online:
        gap = 100 * (online["accuracy_mean"] - stage["accuracy_mean"])
        lines.append(f"- {GOAL_OBJECTIVE}, online minus stage: {gap:+.2f} points (issue goal: online at least "
                     f"stage: {'met' if gap >= 0 else 'not met'})")
    if table:
        best = max(cells.values(), key=lambda e: e["accuracy_mean"])
        lines.append(f"- best cell: {best['objective']} / {best['regime']}, {100 * best['accuracy_mean']:.2f}% "
                     f"(issue goal: at least {100 * BEST_GOAL:.1f}%: "
                     f"{'met' if best['accuracy_mean'] >= BEST_GOAL else 'not met'})")
    return lines


def epochs(count: int) -> str:
    return f"{count} epoch" + ("" if count == 1 else "s")


def regime_notes(regimes: Sequence[str], options: dict, alphas: Sequence[float]) -> List[str]:
    """A line per regime saying what it trains, with the benchmark's settings."""
    stage = options["stage_epochs"]
    alpha_values = ", ".join(f"{alpha:g}" for alpha in alphas)
    described = {
        "stage": (f"{epochs(stage[0])} of the unary potentials, then the pairwise ones with the unaries fixed"
                  + (f" for {epochs(stage[1])}, then both until the end" if len(stage) > 1 else " until the end")
                  + "; no early stopping"),
        "joint": "both potentials from the first epoch, no scaling (the shipped configs)",
        "online": (f"joint; after each epoch the unary scale is re-chosen on {options['online_batches']} training "
                   "batches from 0.25x to 4x the current one"),
        "offline_normalise": f"joint on alpha U / ||U|| and W / ||W||, alpha {alpha_values}",
        "offline_regulariser": (f"joint with {options['ratio_lambda']:g} (||U|| / ||W|| - alpha)^2 added to the "
                                f"loss, alpha {alpha_values}"),
    }
    return [f"- {regime}: {described[regime]}" for regime in regimes]


def write(results_dir: str, name: str, table: List[dict], runs: List[dict], seeds: Sequence[int], command: str,
          objectives: Sequence[str], regimes: Sequence[str], options: dict, alphas: Sequence[float],
          ratio_note: str) -> None:
    cells = chosen(table)
    grid = [[OBJECTIVES[objective]] + [percent(cells[objective, regime]) if (objective, regime) in cells else "-"
                                       for regime in regimes] for objective in objectives]
    lines = ["Test letter accuracy (%, fold 0), mean ± std over seeds; offline regimes at the alpha of the best "
             "mean dev accuracy:", ""] + common.table(["objective"] + list(regimes), grid)
    details = [[e["objective"], e["regime"], "-" if e["alpha"] is None else f"{e['alpha']:g}" + (
        " (chosen)" if e["chosen"] and len(alphas) > 1 else ""), e["seeds"], percent(e), percent(e, "word_accuracy"),
        percent(e, "dev_accuracy"), f"{e['epochs']:.1f}", f"{e['best_epoch'] + 1:.1f}", f"{e['epoch_seconds']:.2f}"]
        for e in table]
    lines += ["", "Every cell:", ""] + common.table(
        ["objective", "regime", "alpha", "seeds", "test letter accuracy (%)", "test word accuracy (%)",
         "dev letter accuracy (%)", "epochs run", "best epoch (1-based)", "s / epoch (incl. validation)"], details)
    lines += ["", "Regimes:"] + regime_notes(regimes, options, alphas) + [""] + checks(table)
    lines += [ratio_note]
    bars = [{"name": f"{e['objective']}/{e['regime']}", "mean": e["accuracy_mean"], "std": e["accuracy_std"]}
            for e in cells.values()]
    record = {"summary": table, "runs": runs, "options": {**options, "alphas": list(alphas)}}
    common.write(results_dir, name, command, seeds, record, lines, bars, "test letter accuracy")
    plot_grid(os.path.join(results_dir, f"{name}.png"), cells, objectives, regimes)


def plot_grid(path: str, cells: Dict[tuple, dict], objectives: Sequence[str], regimes: Sequence[str]) -> None:
    """Letter accuracy (mean ± std over seeds): a group of bars per objective, a bar per regime."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(1, len(regimes))
    values = []
    for index, regime in enumerate(regimes):
        shown = [(i, cells[objective, regime]) for i, objective in enumerate(objectives)
                 if (objective, regime) in cells]
        if not shown:
            continue
        xs = [i + (index - (len(regimes) - 1) / 2) * width for i, _ in shown]
        means = [100 * e["accuracy_mean"] for _, e in shown]
        stds = [100 * e["accuracy_std"] for _, e in shown]
        ax.bar(xs, means, width, yerr=stds, capsize=3, label=regime)
        values += [m - s for m, s in zip(means, stds)] + [m + s for m, s in zip(means, stds)]
    ax.set_xticks(range(len(objectives)), [OBJECTIVES[objective] for objective in objectives])
    if values:
        ax.set_ylim(max(0.0, min(values) - 2), min(100.0, max(values) + 1))
    ax.set_ylabel("test letter accuracy (%)")
    ax.set_title("OCR, linear-chain CRF over a per-letter LeNet: mean ± std over seeds")
    ax.legend(fontsize=8, ncol=len(regimes))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_norm_ratio(path: str, runs: List[dict], objective: str) -> bool:
    """The training norm ratio per epoch of `objective`'s runs (log scale; a colour per regime, and
    per alpha of the offline regimes, a line per seed).  False (nothing drawn) if none has one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(8, 4))
    colours: Dict[str, str] = {}
    for run in runs:
        if run["objective"] != objective:
            continue
        points = [(row["epoch"], row["norm_ratio"]) for row in run["norms"]
                  if row["norm_ratio"] is not None and math.isfinite(row["norm_ratio"]) and row["norm_ratio"] > 0]
        if not points:
            continue
        label = run["method"][len(objective) + 1:]
        new = label not in colours
        colours.setdefault(label, f"C{len(colours) % 10}")
        ax.plot(*zip(*points), color=colours[label], marker=".", linewidth=1, label=label if new else None)
    if not colours:
        plt.close(fig)
        return False
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("||U|| / ||W|| (training batches' mean)")
    ax.set_title(f"OCR CRF, {OBJECTIVES[objective]}: unary / pairwise norm ratio over training (a line per seed)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=list(OBJECTIVES))
    parser.add_argument("--regimes", nargs="+", default=REGIMES, choices=REGIMES)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--runs-dir", default=os.path.join(ROOT, "runs", "ocr_crf_scaling"))
    parser.add_argument("--config-dir", default=os.path.join(ROOT, "training_configs", "sequence_tagging"))
    parser.add_argument("--config-prefix", default="ocr_crf")
    parser.add_argument("--results-dir", default=common.RESULTS)
    parser.add_argument("--name", default=NAME, help="the table's file name, <name>.{json,md,runs.csv,png}")
    parser.add_argument("--stage-epochs", type=int, nargs="+", default=[20, 10], metavar="N",
                        help="stage: epochs of the unary potentials, then of the pairwise ones (then joint); "
                             "one number: pairwise until the end (default 20 10)")
    parser.add_argument("--online-batches", type=int, default=20,
                        help="online: training batches of the grid search after each epoch (default 20)")
    parser.add_argument("--alphas", type=float, nargs="+", default=[4.0],
                        help="offline regimes: the ratio ||U|| / ||W|| (normalise) or its target (regulariser); "
                             "several: each is run, the best mean dev accuracy reported (default 4)")
    parser.add_argument("--ratio-lambda", type=float, default=0.1,
                        help="offline_regulariser: the regulariser's weight lambda (default 0.1)")
    parser.add_argument("--ratio-objective", default=None, choices=list(OBJECTIVES),
                        help=f"the objective of the norm-ratio plot (default {GOAL_OBJECTIVE} if run, else the first)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs trained at once, each its own `allennlp` process (default 1)")
    parser.add_argument("--finished-only", action="store_true",
                        help="train nothing: build the table from the runs that have finished")
    common.add_allow_dirty(parser)
    args = parser.parse_args()
    if not 1 <= len(args.stage_epochs) <= 2 or min(args.stage_epochs) < 1:
        parser.error("--stage-epochs takes one or two positive numbers")
    configs = {objective: os.path.abspath(config_path(args.config_dir, args.config_prefix, objective))
               for objective in args.objectives}
    missing = [config for config in configs.values() if not os.path.exists(config)]
    if missing:
        parser.error("no such config: " + ", ".join(missing))
    os.makedirs(args.runs_dir, exist_ok=True)
    options = {"stage_epochs": list(args.stage_epochs), "online_batches": args.online_batches,
               "ratio_lambda": args.ratio_lambda}
    cells = variants(args.objectives, args.regimes, args.alphas)
    runs = collect_runs(cells, configs, args.seeds, args.runs_dir, args.allow_dirty, args.finished_only, options,
                        args.jobs)
    ratio_objective = args.ratio_objective or (GOAL_OBJECTIVE if GOAL_OBJECTIVE in args.objectives
                                               else args.objectives[0])
    os.makedirs(args.results_dir, exist_ok=True)
    ratio_path = os.path.join(args.results_dir, RATIO_PLOT)
    if plot_norm_ratio(ratio_path, runs, ratio_objective):
        ratio_note = f"- the norm ratio ||U|| / ||W|| over training, {ratio_objective}: `{RATIO_PLOT}`"
    else:
        ratio_note = f"- no run of {ratio_objective} recorded a norm ratio: no `{RATIO_PLOT}`"
    command = "python benchmarks/crf_scaling.py " + " ".join(sys.argv[1:])
    write(args.results_dir, args.name, summarise(cells, runs), runs, args.seeds, command, args.objectives,
          args.regimes, options, args.alphas, ratio_note)


if __name__ == "__main__":
    main()
