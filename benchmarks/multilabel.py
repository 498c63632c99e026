"""Multi-label benchmark: a data set's configs over several seeds, plus scikit-learn peers.

For each method and seed it runs `allennlp train training_configs/multilabel/<dataset>_<method>.jsonnet`
(one run at a time), then reads the test metrics from metrics.json.  Afterwards, in this one
process, it loads each method's first-seed archive and times its test-time predictor on the whole
test set (the task-net alone, or gradient-based inference for spen and dvn), and fits the
scikit-learn peers (MLPClassifier, ClassifierChain of logistic regressions) on the same split.
Writes `benchmarks/results/<dataset>.{json,md,png}`.

Set OMP_NUM_THREADS=1 to time every method on one core (as in RESULTS.md).

Usage: .venv/bin/python benchmarks/multilabel.py --dataset scene [--seeds 1 2 3 4 5] [--methods ...] [--no-peers]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
METHODS = ["cross_entropy", "seal_dynamic_nce", "seal_dynamic_dvn", "seal_dynamic_ssvm",
           "seal_static_nce", "spen", "dvn", "infnet"]
CONFIG_PREFIX = {"scene": "scene", "debtags-bow": "debtags_bow"}


def config_path(dataset: str, method: str) -> str:
    return os.path.join(ROOT, "training_configs", "multilabel", f"{CONFIG_PREFIX[dataset]}_{method}.jsonnet")


def data_paths(dataset: str) -> dict:
    """train/dev/test paths of the data set's configs (relative paths resolved from the repo root)."""
    import _jsonnet

    config = json.loads(_jsonnet.evaluate_file(config_path(dataset, "cross_entropy")))
    keys = {"train": "train_data_path", "dev": "validation_data_path", "test": "test_data_path"}
    return {split: os.path.join(ROOT, config[key]) for split, key in keys.items()}


def train(dataset: str, method: str, seed: int, runs_dir: str) -> dict:
    out = os.path.join(runs_dir, f"{method}_seed{seed}")
    config = config_path(dataset, method)
    overrides = json.dumps({"random_seed": seed, "numpy_seed": seed, "pytorch_seed": seed})
    command = [os.path.join(ROOT, ".venv", "bin", "allennlp"), "train", config, "-s", out, "-f",
               "--include-package", "seal", "-o", overrides]
    if not os.path.exists(os.path.join(out, "model.tar.gz")):  # a finished run is reused
        with open(out + ".log", "w") as log:
            subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=True)
    with open(os.path.join(out, "metrics.json")) as handle:
        metrics = json.load(handle)
    epochs = metrics["epoch"] + 1
    hours, minutes, seconds = metrics["training_duration"].split(":")
    duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return {"method": method, "seed": seed, "archive": os.path.join(out, "model.tar.gz"),
            "test_example_f1": metrics["test_example_f1"], "test_micro_f1": metrics["test_micro_f1"],
            "test_macro_f1": metrics["test_macro_f1"], "test_hamming_loss": metrics["test_hamming_loss"],
            "best_epoch": metrics["best_epoch"], "epochs": epochs, "epoch_seconds": duration / epochs}


def throughput(archive: str, test_path: str, repeats: int = 5) -> float:
    """Test examples per second of the archived model's predictor (forward in eval mode, batches of 256)."""
    import torch
    from allennlp.data.data_loaders import SimpleDataLoader
    from allennlp.models.archival import load_archive

    loaded = load_archive(archive)
    model = loaded.model.eval()
    instances = list(loaded.dataset_reader.read(test_path))
    for instance in instances:
        instance.fields.pop("labels")
    loader = SimpleDataLoader(instances, 256, vocab=model.vocab)
    batches = list(loader)
    torch.set_num_threads(1)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.no_grad():
            for batch in batches:
                model(**batch)
        timings.append(time.perf_counter() - start)
    return len(instances) / min(timings)


def sklearn_peers(data, seeds):
    from sklearn.linear_model import LogisticRegression
    from sklearn.multioutput import ClassifierChain
    from sklearn.neural_network import MLPClassifier

    sys.path.insert(0, ROOT)
    from seal.data.dataset_readers import ArffDatasetReader

    from allennlp.data import Vocabulary

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
        f1 = [r["test_example_f1"] for r in rows]
        entry = {"method": method, "seeds": len(rows), "f1_mean": statistics.mean(f1),
                 "f1_std": statistics.stdev(f1) if len(f1) > 1 else 0.0}
        if "epoch_seconds" in rows[0]:
            entry["epoch_seconds"] = statistics.mean(r["epoch_seconds"] for r in rows)
            entry["epochs"] = statistics.mean(r["epochs"] for r in rows)
            for key in ("test_micro_f1", "test_macro_f1"):
                entry[key] = statistics.mean(r[key] for r in rows)
        entry["examples_per_second"] = rates.get(method, statistics.mean(r.get("examples_per_second", 0) for r in rows))
        table.append(entry)
    return table


def machine():
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, torch {torch.__version__}"


def write(dataset, table, runs, peers, seeds, command):
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{dataset}.json"), "w") as out:
        json.dump({"command": command, "machine": machine(), "seeds": seeds, "summary": table,
                   "runs": runs, "peers": peers}, out, indent=1)
    threads = os.environ.get("OMP_NUM_THREADS", "all")
    lines = [f"Command: `{command}`  ", f"Machine: {machine()}, torch threads per process: {threads}  ",
             f"Seeds: {seeds}  ", "",
             "| method | seeds | test example-F1 (mean ± std) | micro-F1 | macro-F1 | epochs run | s / epoch (incl. validation) | test examples / s |",
             "|---|---|---|---|---|---|---|---|"]
    for e in table:
        lines.append(f"| {e['method']} | {e['seeds']} | {e['f1_mean']:.4f} ± {e['f1_std']:.4f} | "
                     f"{e.get('test_micro_f1', float('nan')):.4f} | {e.get('test_macro_f1', float('nan')):.4f} | "
                     f"{e.get('epochs', float('nan')):.1f} | {e.get('epoch_seconds', float('nan')):.2f} | {e['examples_per_second']:.0f} |")
    lines += [""] + ratios(table)
    with open(os.path.join(RESULTS, f"{dataset}.md"), "w") as out:
        out.write("\n".join(lines) + "\n")
    plot(dataset, table)
    print("\n".join(lines))


def ratios(table) -> list:
    """The speed comparisons of the SEAL issue: test-time and epoch cost against cross-entropy
    and against SPEN's gradient-based inference."""
    by_method = {e["method"]: e for e in table}
    seal, ce, spen = (by_method.get(m) for m in ("seal_dynamic_nce", "cross_entropy", "spen"))
    lines = []
    if seal and ce:
        lines.append(f"- seal_dynamic_nce test-time cost / cross_entropy's: "
                     f"{ce['examples_per_second'] / seal['examples_per_second']:.2f}x")
        lines.append(f"- seal_dynamic_nce epoch / cross_entropy epoch: {seal['epoch_seconds'] / ce['epoch_seconds']:.2f}x")
    if seal and spen:
        lines.append(f"- seal_dynamic_nce test-time speed / spen's (GBI): "
                     f"{seal['examples_per_second'] / spen['examples_per_second']:.1f}x")
    return lines


def plot(dataset, table):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    names = [e["method"].replace("sklearn ", "sk ") for e in table]
    ax.bar(range(len(table)), [e["f1_mean"] for e in table], yerr=[e["f1_std"] for e in table], capsize=4,
           color=["tab:orange" if "seal" in n else "tab:blue" for n in names])
    ax.set_xticks(range(len(table)), names, rotation=35, ha="right", fontsize=8)
    low = min(e["f1_mean"] - e["f1_std"] for e in table)
    ax.set_ylim(max(0.0, low - 0.05), min(1.0, max(e["f1_mean"] + e["f1_std"] for e in table) + 0.03))
    ax.set_ylabel("test example-F1")
    ax.set_title(f"{dataset}: mean ± std over seeds")
    fig.tight_layout()
    fig.savefig(os.path.join(RESULTS, f"{dataset}.png"), dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(CONFIG_PREFIX), default="scene")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--no-peers", action="store_true", help="skip the scikit-learn peers")
    parser.add_argument("--runs-dir", default=None)
    args = parser.parse_args()
    runs_dir = args.runs_dir or os.path.join(ROOT, "runs", f"benchmark_{args.dataset}")
    os.makedirs(runs_dir, exist_ok=True)
    command = "python benchmarks/multilabel.py " + " ".join(sys.argv[1:])
    data = data_paths(args.dataset)
    runs = []
    for seed in args.seeds:
        for method in args.methods:
            runs.append(train(args.dataset, method, seed, runs_dir))
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "archive"}), flush=True)
    sys.path.insert(0, ROOT)
    import seal  # noqa: F401  registers the components needed to load the archives

    rates = {method: throughput(next(r["archive"] for r in runs if r["method"] == method), data["test"])
             for method in args.methods}
    peers = [] if args.no_peers else sklearn_peers(data, args.seeds)
    write(args.dataset, summarise(runs, peers, rates), runs, peers, args.seeds, command)


if __name__ == "__main__":
    main()
