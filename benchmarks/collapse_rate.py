"""How often SEAL collapses: many seeds of each SEAL variant on feature multi-label data sets,
counting the runs whose task-net collapses (issue #38).

A run collapses when the model it keeps (its best dev epoch) predicts one label set for every dev
example, or when its best dev example-F1 is at or below what cross-entropy reaches on dev after its
first epoch with the same seed: the task-net then learnt less than one epoch of cross-entropy does.

Data sets: `scene` and `debtags-bow`, and variants of scene, `scene-f<M>-l<K>-s<S>`, which keep M of
its features and K of its labels drawn at random with seed S (written in MEKA layout under
runs/collapse_data/), to see more data sets of scene's kind.  Every config is built from
training_configs/multilabel/multilabel.libsonnet with the data set's shipped settings, so a variant
differs from scene in its data only.  Seeds are integers or `default`, AllenNLP's own seeds, which a
config without seeds (the README's main job) trains with.  `--max-epochs` caps every run (early
stopping still applies), for data sets too large to run many seeds to the end.

Writes `benchmarks/results/<name>.{json,md,runs.csv,png}`.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/collapse_rate.py --datasets scene scene-f150-l6-s1 \
           --seeds default 1 2 ... 20 [--methods ...] [--max-epochs N] [--jobs 2] [--name collapse-rate]
"""
import argparse
import gzip
import json
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence

import numpy as np

import common

ROOT = common.ROOT
LIBSONNET = os.path.join(ROOT, "training_configs", "multilabel", "multilabel.libsonnet")
METHODS = ["seal_dynamic_nce", "seal_dynamic_dvn", "seal_dynamic_ssvm", "seal_static_nce"]
REFERENCE = "cross_entropy"
TEST_METRICS = ["test_example_f1", "best_validation_example_f1"]
VARIANT = re.compile(r"^scene-f(\d+)-l(\d+)-s(\d+)$")
SCENE_FEATURES, SCENE_LABELS = 294, 6


def parse_seed(text: str):
    return text if text == "default" else int(text)


# ---- data sets -------------------------------------------------------------------------------
def read_dense_arff(path: str):
    """Attribute lines and data rows (lists of strings) of a dense ARFF file, gzipped or not."""
    opener = gzip.open if path.endswith(".gz") else open
    attributes, rows, in_data = [], [], False
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("%"):
                continue
            if in_data:
                rows.append(line.split(","))
            elif line.lower().startswith("@attribute"):
                attributes.append(line)
            elif line.lower().startswith("@data"):
                in_data = True
    return attributes, rows


def write_variant(source: Dict[str, str], target_dir: str, name: str, num_features: int, num_labels: int,
                  seed: int) -> Dict[str, str]:
    """Scene's train/dev/test restricted to `num_features` features and `num_labels` labels drawn with
    `seed`, in MEKA layout (the labels last: `-C -num_labels`); returns the new paths."""
    if not (1 <= num_features <= SCENE_FEATURES and 1 <= num_labels <= SCENE_LABELS):
        raise SystemExit(f"{name}: scene has {SCENE_FEATURES} features and {SCENE_LABELS} labels")
    rng = np.random.RandomState(seed)
    features = sorted(rng.choice(SCENE_FEATURES, num_features, replace=False))
    labels = sorted(SCENE_FEATURES + rng.choice(SCENE_LABELS, num_labels, replace=False))
    columns = list(features) + list(labels)
    os.makedirs(target_dir, exist_ok=True)
    paths = {}
    for split, path in source.items():
        attributes, rows = read_dense_arff(path)
        if len(attributes) != SCENE_FEATURES + SCENE_LABELS:
            raise SystemExit(f"{path}: expected scene's {SCENE_FEATURES + SCENE_LABELS} attributes")
        paths[split] = os.path.join(target_dir, f"{name}-{split}.arff.gz")
        with gzip.open(paths[split], "wt", encoding="utf-8") as out:
            out.write(f"@relation '{name}: -C -{num_labels}'\n\n")
            out.writelines(attributes[c] + "\n" for c in columns)
            out.write("\n@data\n")
            out.writelines(",".join(row[c] for c in columns) + "\n" for row in rows)
    return paths


def dataset_settings(dataset: str, data_dir: str) -> str:
    """The jsonnet expression of a data set's settings in multilabel.libsonnet."""
    if dataset in ("scene", "debtags-bow"):
        return f"ml.datasets[{json.dumps(dataset)}]"
    match = VARIANT.match(dataset)
    if match is None:
        raise SystemExit(f"unknown data set {dataset!r}: scene, debtags-bow or scene-f<M>-l<K>-s<S>")
    num_features, num_labels, seed = (int(group) for group in match.groups())
    scene = json.loads(evaluate("ml.datasets.scene"))
    source = {split: os.path.join(ROOT, scene[split]) for split in ("train", "dev", "test")}
    paths = write_variant(source, data_dir, dataset, num_features, num_labels, seed)
    return f"ml.datasets.scene + {json.dumps({**paths, 'num_features': num_features})}"


def evaluate(expression: str) -> str:
    import _jsonnet

    return _jsonnet.evaluate_snippet("snippet", f"local ml = import {json.dumps(LIBSONNET)}; {expression}")


def write_config(dataset: str, method: str, settings: str, config_dir: str) -> str:
    """A config of `method` on the data set, built by the shared libsonnet; returns its path."""
    os.makedirs(config_dir, exist_ok=True)
    path = os.path.join(config_dir, f"{dataset}_{method}.jsonnet")
    with open(path, "w") as out:
        out.write(f"local ml = import {json.dumps(LIBSONNET)};\nml.config({settings}, ml.methods.{method})\n")
    return path


# ---- one run -----------------------------------------------------------------------------------
def first_epoch_dev_f1(run_dir: str) -> float:
    with open(os.path.join(run_dir, "metrics_epoch_0.json")) as handle:
        return json.load(handle)["validation_example_f1"]


def distinct_dev_predictions(archive: str) -> int:
    """How many different label sets the archived model predicts on its dev file."""
    import torch
    from allennlp.data.data_loaders import SimpleDataLoader
    from allennlp.models.archival import load_archive

    loaded = load_archive(archive)
    model = loaded.model.eval()
    instances = list(loaded.validation_dataset_reader.read(loaded.config["validation_data_path"]))
    predicted = set()
    with torch.no_grad():
        for batch in SimpleDataLoader(instances, 256, vocab=model.vocab):
            batch.pop(model.label_field, None)
            decisions = (model(**batch)["probabilities"] >= 0.5).to(torch.int8)
            predicted.update(tuple(row) for row in decisions.tolist())
    return len(predicted)


def train(config: str, dataset: str, method: str, seed, runs_dir: str, max_epochs: Optional[int]) -> dict:
    overrides = {"trainer.num_epochs": max_epochs} if max_epochs else {}
    run = common.train(config, method, seed, runs_dir, TEST_METRICS, overrides, name=f"{dataset}_{method}_seed{seed}")
    run["dataset"] = dataset
    return run


def judge(run: dict, reference: dict) -> dict:
    """Adds the collapse verdict of a SEAL run against the cross-entropy run of its seed."""
    run["distinct_dev_predictions"] = distinct_dev_predictions(run["archive"])
    run["cross_entropy_first_epoch_dev_f1"] = first_epoch_dev_f1(os.path.dirname(reference["archive"]))
    run["constant"] = run["distinct_dev_predictions"] == 1
    run["below_first_epoch"] = run["best_validation_example_f1"] <= run["cross_entropy_first_epoch_dev_f1"]
    run["collapsed"] = run["constant"] or run["below_first_epoch"]
    return run


# ---- the table -----------------------------------------------------------------------------------
def summarise(runs: List[dict], datasets: Sequence[str], methods: Sequence[str]) -> List[dict]:
    table = []
    for dataset in datasets:
        for method in [REFERENCE] + list(methods):
            rows = [r for r in runs if r["dataset"] == dataset and r["method"] == method]
            if not rows:
                continue
            mean, std = common.mean_std([r["test_example_f1"] for r in rows])
            entry = {"dataset": dataset, "method": method, "runs": len(rows), "f1_mean": mean, "f1_std": std}
            if method != REFERENCE:
                entry.update({key: sum(r[key] for r in rows) for key in ("collapsed", "constant", "below_first_epoch")})
                entry["collapsed_seeds"] = [r["seed"] for r in rows if r["collapsed"]]
            table.append(entry)
    return table


def markdown(table: List[dict]) -> List[str]:
    rows = [[e["dataset"], e["method"], str(e["runs"]),
             "reference" if e["method"] == REFERENCE else f"{e['collapsed']} / {e['runs']}",
             "" if e["method"] == REFERENCE else str(e["constant"]),
             "" if e["method"] == REFERENCE else str(e["below_first_epoch"]),
             f"{e['f1_mean']:.4f} ± {e['f1_std']:.4f}",
             "" if e["method"] == REFERENCE else ", ".join(map(str, e["collapsed_seeds"])) or "none"]
            for e in table]
    return common.table(["data set", "method", "runs", "collapsed", "constant predictions",
                         "best dev <= CE after 1 epoch", "test example-F1 (mean ± std)", "collapsed seeds"], rows)


def run_all(datasets, methods, seeds, runs_dir, max_epochs, jobs, allow_dirty) -> List[dict]:
    configs = {}
    for dataset in datasets:
        settings = dataset_settings(dataset, os.path.join(runs_dir, "data"))
        for method in [REFERENCE] + list(methods):
            configs[dataset, method] = write_config(dataset, method, settings, os.path.join(runs_dir, "configs"))
    every_method = [REFERENCE] + list(methods)
    pairs = [(dataset, method, seed) for dataset in datasets for seed in seeds for method in every_method]

    def one(pair):
        dataset, method, seed = pair
        return train(configs[dataset, method], dataset, method, seed, runs_dir, max_epochs)

    with ThreadPoolExecutor(max(jobs, 1)) as pool:
        runs = list(pool.map(one, pairs))
    common.seal_version(runs, allow_dirty)
    references = {(r["dataset"], r["seed"]): r for r in runs if r["method"] == REFERENCE}
    return [r if r["method"] == REFERENCE else judge(r, references[r["dataset"], r["seed"]]) for r in runs]


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["scene"])
    parser.add_argument("--seeds", nargs="+", type=parse_seed, default=["default"] + list(range(1, 21)))
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--max-epochs", type=int, default=None, help="cap every run's epochs")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once, each its own process")
    parser.add_argument("--name", default="collapse-rate", help="results file name")
    parser.add_argument("--results-dir", default=common.RESULTS)
    parser.add_argument("--runs-dir", default=os.path.join(ROOT, "runs", "collapse_rate"))
    common.add_allow_dirty(parser)
    args = parser.parse_args(argv)
    command = "python benchmarks/collapse_rate.py " + " ".join(sys.argv[1:] if argv is None else argv)
    sys.path.insert(0, ROOT)
    import seal  # noqa: F401  registers the components needed to load the archives

    runs = run_all(args.datasets, args.methods, args.seeds, args.runs_dir, args.max_epochs, args.jobs,
                   args.allow_dirty)
    table = summarise(runs, args.datasets, args.methods)
    bars = [{"name": f"{e['dataset']} {e['method']}", "mean": e["f1_mean"], "std": e["f1_std"]} for e in table]
    note = [f"Collapse: constant dev predictions, or best dev example-F1 at or below cross-entropy's after its "
            f"first epoch (same seed). Epoch cap: {args.max_epochs or 'the configs own'}."]
    common.write(args.results_dir, args.name, command, args.seeds, {"summary": table, "runs": runs},
                 markdown(table) + [""] + note, bars, "test example-F1")


if __name__ == "__main__":
    main()
