"""Binary segmentation benchmark: the horse configs over several seeds, and a figure of predicted test masks.

For each method and seed it runs `allennlp train training_configs/segmentation/horses_<method>.jsonnet`
(one run at a time) into --runs-dir (default runs/horses, a run `<method>_seed<seed>`), then reads the
test mean IoU, global IoU and pixel accuracy from metrics.json.  A finished run (a run directory with
metrics.json) is reused.  Afterwards, in this one process, it loads each method's first-seed archive,
times its test-time predictor on the whole test set in images per second (common.model_throughput:
one torch thread; the task-net alone, or gradient-based inference for dvn) and predicts the masks of
a few test images with it.  All runs of a table must have been made with one commit of seal/ and no
uncommitted changes in it (common.seal_version; --allow-dirty lifts the latter for smoke tests).

Writes `<results-dir>/horses.{json,md,runs.csv,png}` (the png: mean IoU per method, mean ± std over
seeds) and the model card's figure: a row per test image (--figure-images of them, spread evenly over
the test set) with the image, its gold mask and each method's predicted mask.  The figure goes to
model_cards/figures/horses.png when the results go to benchmarks/results (the default), else beside
the results as horses.examples.png; --figure names another file.

Set OMP_NUM_THREADS=1 to time every method on one core (as in RESULTS.md).

Usage: .venv/bin/python benchmarks/segmentation.py [--seeds 1 2 3 4 5] [--methods ...] [--runs-dir runs/horses]
           [--name horses]
The Gaussian CRF task-net (horses_gaussian_crf_*.jsonnet) is not in the default methods: name it, e.g.
    --methods cross_entropy gaussian_crf_cross_entropy gaussian_crf_seal_dynamic_dvn --name horses-gaussian-crf
dvn_crop_average (in the default methods, needs dvn) trains nothing: it is each dvn run's model predicting
with DVN's test-time crop averaging (segmentation.libsonnet's dvn_crop_average: gradient-based inference
on overlapping windows, averaged per pixel), as a run of its own, `<runs-dir>/dvn_crop_average_seed<n>`:
an archive of the same weights whose config wraps the inference in `crop-average`, and dvn's
metrics.json with the test metrics `allennlp evaluate` gives that archive (after checking that
`allennlp evaluate` of dvn's own archive reproduces its test metrics).
A look at the runs finished so far, training nothing and leaving the project's tables alone:
    .venv/bin/python benchmarks/segmentation.py --finished-only --results-dir /tmp/horses_results
Smoke test on the fixtures (from the repository root, where the fixture configs' data paths start):
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/segmentation.py --config-dir fixtures/configs \\
        --config-prefix horses_tiny --methods cross_entropy seal_dynamic_nce --seeds 1 \\
        --runs-dir /tmp/segbench --results-dir /tmp/segbench_results --allow-dirty
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
from typing import Dict, List, Sequence

import numpy as np

import common

ROOT = common.ROOT
NAME = "horses"
METHODS = ["cross_entropy", "seal_dynamic_nce", "seal_dynamic_dvn", "seal_static_nce", "dvn", "dvn_crop_average"]
CROP_AVERAGE = "dvn_crop_average"  # dvn's models predicting by crop averaging: derived, not trained
# The Gaussian CRF task-net (issue #39): a table of its own (--name), beside cross-entropy's U-Net.
GAUSSIAN_CRF = ["gaussian_crf_cross_entropy", "gaussian_crf_seal_dynamic_dvn"]
# The test metrics (metrics.json key, name in the summary, label); the first is the main one.
METRICS = [("test_mean_iou", "iou", "test mean IoU"), ("test_global_iou", "global_iou", "global IoU"),
           ("test_pixel_accuracy", "pixel_accuracy", "pixel accuracy")]
GBI = "dvn"  # the method that predicts with gradient-based inference
SEAL_DYNAMIC = ("seal_dynamic_nce", "seal_dynamic_dvn")
SPEEDUP_GOAL = 10.0  # the issue: seal-dynamic predicts at least 10x faster than DVN with GBI
IOU_GOALS = {"cross_entropy": 1.0, GBI: 0.0}  # the issue: seal-dynamic above cross-entropy by 1 point, above DVN
FIGURE_IMAGES = 6


def config_path(config_dir: str, prefix: str, method: str) -> str:
    return os.path.join(config_dir, f"{prefix}_{method}.jsonnet")


def collect_runs(configs: Dict[str, str], seeds: Sequence[int], runs_dir: str, allow_dirty: bool,
                 finished_only: bool) -> List[dict]:
    """Every method's run for every seed (trained, or reused when finished), seed-major.  With
    `finished_only` nothing is trained: only the runs that have finished are read."""
    keys = [key for key, _, _ in METRICS]

    def train_one(method: str, seed: int) -> dict:
        return common.train(configs[method], method, seed, runs_dir, keys)

    if not finished_only:
        return common.train_all(seeds, list(configs), train_one, allow_dirty)
    return common.finished_runs(seeds, list(configs), runs_dir, train_one, allow_dirty)


def crop_average_options() -> dict:
    """The windows of segmentation.libsonnet's `dvn_crop_average` on the horses: crop_size, stride."""
    import _jsonnet

    snippet = "(import 'training_configs/segmentation/segmentation.libsonnet').datasets.horses.dvn.crop_average"
    return json.loads(_jsonnet.evaluate_snippet("crop_average", snippet, jpathdir=ROOT))


def evaluate(archive: str, test_path: str) -> dict:
    """The metrics `allennlp evaluate` reports for `archive` on `test_path`."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "metrics.json")
        done = subprocess.run([os.path.join(ROOT, ".venv", "bin", "allennlp"), "evaluate", archive, test_path,
                               "--include-package", "seal", "--output-file", out], cwd=ROOT, capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise SystemExit(f"allennlp evaluate {archive} {test_path} failed:\n{done.stderr[-3000:]}")
        with open(out) as handle:
            return json.load(handle)


def with_crop_average(source: str, target: str, options: dict) -> dict:
    """Writes to `target` the archive `source` with its model's `inference` wrapped in `crop-average`
    (`options`); returns the new config."""
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(source) as archive:
            archive.extractall(tmp, filter="data")
        with open(os.path.join(tmp, "config.json")) as handle:
            config = json.load(handle)
        config["model"]["inference"] = {"type": "crop-average", "sampler": config["model"]["inference"], **options}
        with open(os.path.join(tmp, "config.json"), "w") as handle:
            json.dump(config, handle, indent=2)
        with tarfile.open(target, "w:gz") as archive:
            for name in sorted(os.listdir(tmp)):
                archive.add(os.path.join(tmp, name), arcname=name)
    return config


def derive_crop_average(dvn_run: dict, runs_dir: str, test_path: str, options: dict) -> dict:
    """`dvn_run`'s model predicting by crop averaging, as the run `<runs_dir>/dvn_crop_average_seed<n>`
    (reused when finished): its archive (`with_crop_average`), config.json, code version, and dvn's
    metrics.json with the test metrics of `allennlp evaluate` on that archive.  Refuses when
    `allennlp evaluate` of dvn's own archive does not reproduce its test metrics, so that the two
    rows differ by crop averaging alone."""
    out = common.run_dir(runs_dir, CROP_AVERAGE, dvn_run["seed"])
    keys = [key for key, _, _ in METRICS]
    if not common.finished(out):
        plain = evaluate(dvn_run["archive"], test_path)
        differing = [key for key in keys if abs(plain[key[len("test_"):]] - dvn_run[key]) > 1e-6]
        if differing:
            raise SystemExit(f"allennlp evaluate of {dvn_run['archive']} does not reproduce its {differing}")
        source = os.path.dirname(dvn_run["archive"])
        os.makedirs(out, exist_ok=True)
        config = with_crop_average(dvn_run["archive"], os.path.join(out, "model.tar.gz"), options)
        with open(os.path.join(out, "config.json"), "w") as handle:
            json.dump(config, handle, indent=2)
        shutil.copy(os.path.join(source, common.VERSION_FILE), out)
        with open(os.path.join(source, "metrics.json")) as handle:
            metrics = json.load(handle)
        cropped = evaluate(os.path.join(out, "model.tar.gz"), test_path)
        metrics.update({key: cropped[key[len("test_"):]] for key in keys})
        with open(os.path.join(out, "metrics.json"), "w") as handle:
            json.dump(metrics, handle, indent=2)
    return common.read_run(out, CROP_AVERAGE, dvn_run["seed"], keys)


def figure_indices(count: int, images: int) -> List[int]:
    """`images` indices spread evenly over a test set of `count` (all of them when it is smaller)."""
    return sorted({int(i) for i in np.linspace(0, count - 1, min(images, count)).round()})


def predicted_masks(model, instances) -> np.ndarray:
    """The thresholded masks (images x height x width of 0/1) the model predicts for `instances`
    (their gold masks left out), as `allennlp predict` gives them (`predicted_mask`)."""
    model.eval()
    outputs = model.forward_on_instances(common.without_field(instances, common.gold_field(model)))
    return np.array([output["predicted_mask"] for output in outputs], dtype=np.uint8)


def examine(archive: str, test_path: str, images: int) -> dict:
    """The archived model's test-time rate (images / s, common.model_throughput) on the test set
    (read as `allennlp evaluate` reads it), and for `images` test images (`figure_indices`) their
    indices, the images (height x width x 3), the gold masks and the predicted masks."""
    from allennlp.models.archival import load_archive

    loaded = load_archive(archive)
    instances = list(loaded.validation_dataset_reader.read(test_path))
    rate = common.model_throughput(loaded.model, instances, common.gold_field)
    indices = figure_indices(len(instances), images)
    chosen = [instances[i] for i in indices]
    return {"images_per_second": rate, "indices": indices, "masks": predicted_masks(loaded.model, chosen),
            "images": np.stack([instance["image"].tensor.numpy().transpose(1, 2, 0) for instance in chosen]),
            "gold": np.stack([instance["labels"].tensor.numpy() for instance in chosen])}


def iou(predicted: np.ndarray, gold: np.ndarray) -> float:
    """Foreground IoU of one image; 1.0 when neither has foreground (seal.metrics.MeanIoU's convention)."""
    union = np.logical_or(predicted, gold).sum()
    return 1.0 if union == 0 else float(np.logical_and(predicted, gold).sum() / union)


def draw_figure(path: str, images: np.ndarray, gold: np.ndarray, masks: Dict[str, np.ndarray], caption: str) -> None:
    """A row per image: the image, the gold mask and each method's predicted mask (white: horse)
    with its IoU under it; column titles on the first row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [("image", None), ("gold", gold)] + list(masks.items())
    width = 1.25 * len(columns)
    fig, axes = plt.subplots(len(images), len(columns), figsize=(width, 1.3 * len(images) + 0.5), squeeze=False,
                             layout="constrained")
    for row, image in enumerate(images):
        for column, (title, values) in enumerate(columns):
            ax = axes[row, column]
            if values is None:
                ax.imshow(np.clip(image, 0.0, 1.0), interpolation="nearest")
            else:
                ax.imshow(values[row], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if column > 1:
                ax.set_xlabel(f"IoU {iou(values[row], gold[row]):.2f}", fontsize=7, labelpad=1)
            if row == 0:
                ax.set_title(title, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(textwrap.fill(caption, int(width * 14)), fontsize=7)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def summarise(methods: Sequence[str], runs: List[dict], examined: Dict[str, dict]) -> List[dict]:
    key, name, _ = METRICS[0]
    table = []
    for method in methods:
        rows = [run for run in runs if run["method"] == method]
        if not rows:  # --finished-only: none of the method's runs has finished
            continue
        entry = common.summary_entry(method, rows, key, name, ["epochs", "best_epoch", "epoch_seconds"])
        for other, other_name, _ in METRICS[1:]:
            entry[f"{other_name}_mean"], entry[f"{other_name}_std"] = common.mean_std([r[other] for r in rows])
        entry["timed_seed"] = rows[0]["seed"]
        entry["images_per_second"] = examined[method]["images_per_second"]
        table.append(entry)
    return table


def ratios(table: List[dict]) -> List[str]:
    """The issue's comparisons: SEAL's test-time cost and epoch time against cross-entropy's, the
    dynamic SEAL methods' speed-up over dvn (gradient-based inference) and their mean IoU against
    cross-entropy's and dvn's, in points."""
    by_method = {entry["method"]: entry for entry in table}
    lines = common.seal_vs_cross_entropy(by_method, "images_per_second")
    lines += common.speedup_over(by_method, "images_per_second", GBI, SEAL_DYNAMIC, SPEEDUP_GOAL)
    for method in SEAL_DYNAMIC:
        lines += common.points_over(by_method, METRICS[0][1], "mean IoU", method, ("cross_entropy", GBI), IOU_GOALS)
    lines += common.points_over(by_method, METRICS[0][1], "mean IoU", CROP_AVERAGE, (GBI,))
    for method in GAUSSIAN_CRF:
        peers = tuple(peer for peer in ("cross_entropy", GAUSSIAN_CRF[0]) if peer != method)
        lines += common.points_over(by_method, METRICS[0][1], "mean IoU", method, peers)
    return lines


def write(results_dir: str, name: str, table: List[dict], runs: List[dict], seeds: Sequence[int], command: str,
          figure: dict) -> None:
    columns = ["method", "seeds"] + [f"{label} (mean ± std)" for _, _, label in METRICS] + [
        "epochs run", "best epoch (1-based)", "s / epoch (incl. validation)", "test images / s"]
    rows = [[e["method"], e["seeds"]] + [f"{e[f'{n}_mean']:.4f} ± {e[f'{n}_std']:.4f}" for _, n, _ in METRICS] +
            [f"{e['epochs']:.1f}", f"{e['best_epoch'] + 1:.1f}", f"{e['epoch_seconds']:.2f}",
             common.rate_cell(e["images_per_second"])] for e in table]
    timed = sorted({e["timed_seed"] for e in table})
    notes = [f"- test images / s: each method's seed {', '.join(map(str, timed))} archive predicting the whole test "
             "set (the task-net alone; dvn: gradient-based inference), one torch thread, best of 5 passes",
             f"- predicted masks of {len(figure['test_indices'])} test images, the same archives: `{figure['path']}`"]
    if any(e["method"] == CROP_AVERAGE for e in table):
        windows = crop_average_options()
        notes.append(f"- {CROP_AVERAGE}: dvn's trained models (the same runs: epochs and times are dvn's, dev "
                     "scores without crop averaging) predicting by gradient-based inference on "
                     f"{'x'.join(map(str, windows['crop_size']))} windows every {windows['stride']} pixels, "
                     "averaged per pixel; `allennlp evaluate` of dvn's own archives reproduced their test metrics")
    lines = common.table(columns, rows) + [""] + ratios(table) + notes
    bars = [{"name": e["method"], "mean": e[f"{METRICS[0][1]}_mean"], "std": e[f"{METRICS[0][1]}_std"]} for e in table]
    common.write(results_dir, name, command, seeds, {"summary": table, "runs": runs, "figure": figure}, lines, bars,
                 METRICS[0][2])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS + GAUSSIAN_CRF,
                        help=f"{CROP_AVERAGE} is derived from dvn's runs: name dvn too")
    parser.add_argument("--name", default=NAME, help="the table's name: <results-dir>/<name>.{json,md,runs.csv,png}")
    parser.add_argument("--runs-dir", default=os.path.join(ROOT, "runs", NAME))
    parser.add_argument("--config-dir", default=os.path.join(ROOT, "training_configs", "segmentation"))
    parser.add_argument("--config-prefix", default=NAME)
    parser.add_argument("--results-dir", default=common.RESULTS)
    parser.add_argument("--figure", default=None,
                        help="the card's figure (default: model_cards/figures/horses.png with the default "
                             "--results-dir, else <results-dir>/horses.examples.png)")
    parser.add_argument("--figure-images", type=int, default=FIGURE_IMAGES, help="test images (rows) in the figure")
    parser.add_argument("--finished-only", action="store_true",
                        help="train nothing: build the table from the runs that have finished (a method with none "
                             "is left out)")
    common.add_allow_dirty(parser)
    args = parser.parse_args()
    if CROP_AVERAGE in args.methods and GBI not in args.methods:
        parser.error(f"{CROP_AVERAGE} is derived from the runs of {GBI}: name {GBI} too")
    configs = {method: os.path.abspath(config_path(args.config_dir, args.config_prefix, method))
               for method in args.methods if method != CROP_AVERAGE}
    missing = [config for config in configs.values() if not os.path.exists(config)]
    if missing:
        parser.error("no such config: " + ", ".join(missing))
    figure_path = args.figure or (os.path.join(ROOT, "model_cards", "figures", f"{args.name}.png")
                                  if os.path.abspath(args.results_dir) == common.RESULTS
                                  else os.path.join(args.results_dir, f"{args.name}.examples.png"))
    os.makedirs(args.runs_dir, exist_ok=True)
    command = "python benchmarks/segmentation.py " + " ".join(sys.argv[1:])
    runs = collect_runs(configs, args.seeds, args.runs_dir, args.allow_dirty, args.finished_only)
    if CROP_AVERAGE in args.methods:
        options, test_path = crop_average_options(), common.data_paths(configs[GBI])["test"]
        runs += [derive_crop_average(run, args.runs_dir, test_path, options) for run in runs if run["method"] == GBI]
    methods = [method for method in args.methods if any(run["method"] == method for run in runs)]
    sys.path.insert(0, ROOT)
    import seal  # noqa: F401  registers the components needed to load the archives

    first_runs = {method: next(run for run in runs if run["method"] == method) for method in methods}
    examined = {method: examine(run["archive"], common.data_paths(configs.get(method, configs.get(GBI)))["test"],
                                args.figure_images)
                for method, run in first_runs.items()}
    shown = examined[methods[0]]
    timed_seeds = ", ".join(str(seed) for seed in sorted({run["seed"] for run in first_runs.values()}))
    caption = (f"{len(shown['indices'])} test images: gold and predicted masks (white: horse) of each method's "
               f"seed {timed_seeds} archive")
    draw_figure(figure_path, shown["images"], shown["gold"], {m: examined[m]["masks"] for m in methods}, caption)
    relative = os.path.relpath(os.path.abspath(figure_path), ROOT)
    figure = {"path": os.path.abspath(figure_path) if relative.startswith("..") else relative,
              "test_indices": shown["indices"], "archives": {m: run["archive"] for m, run in first_runs.items()}}
    write(args.results_dir, args.name, summarise(methods, runs, examined), runs, args.seeds, command, figure)
    print(f"figure: {figure_path}")


if __name__ == "__main__":
    main()
