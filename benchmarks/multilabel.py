"""Multi-label benchmark: a data set's configs over several seeds, plus scikit-learn peers.

For each method and seed it runs `allennlp train training_configs/<folder>/<prefix>_<method>.jsonnet`
(one run at a time), then reads the test metrics from metrics.json.  Afterwards, in this one
process, it loads each method's first-seed archive and times its test-time predictor on the whole
test set (the task-net alone, or gradient-based inference for spen and dvn), and fits the
scikit-learn peers (MLPClassifier, ClassifierChain of logistic regressions) on the same split.
A finished run (a run directory with metrics.json) is reused, so the table can be built from the
metric files of runs made in earlier sessions (config.json, code_version.json, metrics*.json copied
into --runs-dir); such runs have no archive to time, so pass --no-throughput and time archives with
benchmarks/throughput.py.  All runs of a table must have been made with one commit of seal/ and no
uncommitted changes in it (common.seal_version; --allow-dirty lifts the latter for smoke tests).
Writes `benchmarks/results/<dataset>.{json,md,runs.csv,png}`.

Set OMP_NUM_THREADS=1 to time every method on one core (as in RESULTS.md).

Usage: .venv/bin/python benchmarks/multilabel.py --dataset scene [--seeds 1 2 3 4 5] [--methods ...] [--no-peers]
       [--runs-dir DIR] [--no-throughput]
Text data sets (training_configs/text_multilabel/): --dataset debtags-light, or debtags-minilm (fine-tuned)
or debtags-minilm-frozen (frozen, its vectors cached in runs/frozen_features) with
TRANSFORMER_MODEL=$(.venv/bin/python scripts/minilm_dir.py); no scikit-learn peers for them.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

import common

ROOT = common.ROOT
RESULTS = common.RESULTS
METHODS = ["cross_entropy", "seal_dynamic_nce", "seal_dynamic_dvn", "seal_dynamic_ssvm",
           "seal_static_nce", "spen", "dvn", "infnet", "infnet_plus", "implicit_energy_cd", "implicit_energy_nce",
           "implicit_energy_ssvm"]
# Issue #41's goals, in example-F1 points: implicit-energy with CD above infnet-plus and 1.5 above
# cross-entropy; infnet at cross-entropy's level.
POINT_GOALS = {"implicit_energy_cd": {"infnet_plus": 0.0, "cross_entropy": 1.5}, "infnet": {"cross_entropy": 0.0}}
# data set -> (config folder, config prefix); the ARFF ones also get the scikit-learn peers.
CONFIGS = {
    "scene": ("multilabel", "scene"),
    "debtags-bow": ("multilabel", "debtags_bow"),
    "debtags-light": ("text_multilabel", "debtags_light"),  # text, word embeddings + CNN
    "debtags-minilm": ("text_multilabel", "debtags_minilm"),  # text, MiniLM from $TRANSFORMER_MODEL, fine-tuned
    "debtags-minilm-frozen": ("text_multilabel", "debtags_minilm_frozen"),  # frozen MiniLM (cached) + MLP
}
ARFF = ("scene", "debtags-bow")
TEST_METRICS = ["test_example_f1", "test_micro_f1", "test_macro_f1", "test_hamming_loss"]


def config_path(dataset: str, method: str) -> str:
    folder, prefix = CONFIGS[dataset]
    return os.path.join(ROOT, "training_configs", folder, f"{prefix}_{method}.jsonnet")


def data_paths(dataset: str) -> dict:
    """train/dev/test paths of the data set's configs (relative paths resolved from the repo root)."""
    return common.data_paths(config_path(dataset, "cross_entropy"))


def train(dataset: str, method: str, seed: int, runs_dir: str) -> dict:
    return common.train(config_path(dataset, method), method, seed, runs_dir, TEST_METRICS)


def throughput(archive: str, test_path: str, repeats: int = 5) -> float:
    """Test examples per second of the archived model's predictor (forward in eval mode, batches of 256)."""
    return common.throughput(archive, test_path, lambda model: "labels", repeats=repeats)


def sklearn_peers(data, seeds):
    from sklearn.linear_model import LogisticRegression
    from sklearn.multioutput import ClassifierChain
    from sklearn.neural_network import MLPClassifier

    sys.path.insert(0, ROOT)
    from allennlp.data import Vocabulary

    from seal.data.dataset_readers import ArffDatasetReader

    train_instances = list(ArffDatasetReader().read(data["train"]))
    vocab = Vocabulary.from_instances(train_instances)

    def to_arrays(split):
        instances = list(ArffDatasetReader().read(data[split]))
        for instance in instances:
            instance.index_fields(vocab)
        x = np.stack([i["x"].tensor.numpy() for i in instances])
        y = np.stack([i["labels"].as_tensor({}).numpy() for i in instances])
        return x, y

    (x_train, y_train), (x_test, y_test) = to_arrays("train"), to_arrays("test")
    peers = {
        "sklearn MLPClassifier": lambda seed: MLPClassifier(hidden_layer_sizes=(300,), alpha=1e-3, max_iter=300,
                                                           early_stopping=True, random_state=seed),
        "sklearn ClassifierChain(LogisticRegression)": lambda seed: ClassifierChain(
            LogisticRegression(max_iter=2000, C=1.0), order="random", random_state=seed),
    }
    rows = []
    for name, build in peers.items():
        for seed in seeds:
            model = build(seed)
            start = time.perf_counter()
            model.fit(x_train, y_train)
            fit_seconds = time.perf_counter() - start
            start = time.perf_counter()
            predicted = model.predict(x_test)
            rate = len(x_test) / (time.perf_counter() - start)
            rows.append({"method": name, "seed": seed, "test_example_f1": example_f1(predicted, y_test),
                         "fit_seconds": fit_seconds, "examples_per_second": rate})
    return rows


def example_f1(predicted: np.ndarray, gold: np.ndarray) -> float:
    overlap = (predicted * gold).sum(1)
    total = predicted.sum(1) + gold.sum(1)
    return float(np.where(total == 0, 1.0, 2 * overlap / np.maximum(total, 1)).mean())


def summarise(runs, peers, rates):
    table = []
    for method in METHODS + sorted({p["method"] for p in peers}):
        rows = [r for r in runs + peers if r["method"] == method]
        if not rows:
            continue
        entry = common.summary_entry(method, rows, "test_example_f1", "f1",
                                     ("epoch_seconds", "epochs", "test_micro_f1", "test_macro_f1"))
        timed = [r["examples_per_second"] for r in rows if "examples_per_second" in r]
        entry["examples_per_second"] = rates.get(method, statistics.mean(timed) if timed else None)
        table.append(entry)
    return table


def write(results_dir, dataset, table, runs, peers, seeds, command):
    nan = float("nan")
    rows = [[e["method"], e["seeds"], f"{e['f1_mean']:.4f} ± {e['f1_std']:.4f}", f"{e.get('test_micro_f1', nan):.4f}",
             f"{e.get('test_macro_f1', nan):.4f}", f"{e.get('epochs', nan):.1f}", f"{e.get('epoch_seconds', nan):.2f}",
             common.rate_cell(e["examples_per_second"])] for e in table]
    lines = common.table(["method", "seeds", "test example-F1 (mean ± std)", "micro-F1", "macro-F1", "epochs run",
                          "s / epoch (incl. validation)", "test examples / s"], rows)
    bars = [{"name": e["method"].replace("sklearn ", "sk "), "mean": e["f1_mean"], "std": e["f1_std"]} for e in table]
    common.write(results_dir, dataset, command, seeds, {"summary": table, "runs": runs, "peers": peers},
                 lines + [""] + ratios(table), bars, "test example-F1")


def ratios(table) -> list:
    """The speed comparisons of the SEAL issue (test-time and epoch cost against cross-entropy and
    against SPEN's gradient-based inference) and the example-F1 gaps of POINT_GOALS."""
    by_method = {e["method"]: e for e in table}
    lines = (common.seal_vs_cross_entropy(by_method, "examples_per_second") +
             common.speedup_over(by_method, "examples_per_second", "spen"))
    for method, goals in POINT_GOALS.items():
        lines += common.points_over(by_method, "f1", "example-F1", method, tuple(goals), goals)
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(CONFIGS), default="scene")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--no-peers", action="store_true", help="skip the scikit-learn peers")
    parser.add_argument("--results-dir", default=RESULTS)
    parser.add_argument("--runs-dir", default=None,
                        help="where runs are trained or reused (default runs/benchmark_<dataset>)")
    parser.add_argument("--no-throughput", action="store_true",
                        help="do not time the first-seed archives (for runs kept as metric files only)")
    common.add_allow_dirty(parser)
    args = parser.parse_args()
    runs_dir = args.runs_dir or os.path.join(ROOT, "runs", f"benchmark_{args.dataset}")
    os.makedirs(runs_dir, exist_ok=True)
    command = "python benchmarks/multilabel.py " + " ".join(sys.argv[1:])
    data = data_paths(args.dataset)
    runs = common.train_all(args.seeds, args.methods,
                            lambda method, seed: train(args.dataset, method, seed, runs_dir), args.allow_dirty)
    sys.path.insert(0, ROOT)
    import seal  # noqa: F401  registers the components needed to load the archives

    rates = {} if args.no_throughput else common.rates(
        runs, args.methods, lambda method, archive: throughput(archive, data["test"]))
    peers = [] if args.no_peers or args.dataset not in ARFF else sklearn_peers(data, args.seeds)
    write(args.results_dir, args.dataset, summarise(runs, peers, rates), runs, peers, args.seeds, command)


if __name__ == "__main__":
    main()
