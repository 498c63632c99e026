"""Sequence-labelling benchmark: a data set's configs (WNUT-16 NER, OCR handwritten words or Brown part of speech)
over several seeds.

For each method and seed it runs `allennlp train training_configs/sequence_tagging/<prefix>_<method>.jsonnet`
(one run at a time, or --jobs at once), then reads the test metrics from metrics.json: span F1 / precision / recall
(overall) for WNUT-16, letter and word accuracy for OCR, token accuracy for Brown.  Afterwards, in this one process,
it loads each method's first-seed archive and times its test-time tagger on the whole test set in tokens
(real positions: words for WNUT-16 and Brown, letters for OCR) per second.
Writes `benchmarks/results/<dataset>.{json,md,runs.csv,png}` (`<name>.*` with --name, e.g. `--name wnut16-variants`
for the SEAL variants that are not part of the issue's main comparison).  All runs of a table must
have been made with one commit of seal/ and no uncommitted changes in it (--allow-dirty lifts the
latter for smoke tests).

Set OMP_NUM_THREADS=1 to time every method on one core (as in RESULTS.md).

Usage: .venv/bin/python benchmarks/sequence_tagging.py --dataset wnut16 [--seeds 1 2 3 4 5] [--methods ...]
(--dataset wnut16-minilm: frozen MiniLM features, with MINILM_DIR=$(.venv/bin/python scripts/minilm_dir.py))
Smoke test on the fixtures (from the repository root, where the fixture configs' data paths start):
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sequence_tagging.py --dataset ocr \\
        --config-dir fixtures/configs --config-prefix ocr_small --seeds 1 2 \\
        --runs-dir /tmp/seqbench --results-dir /tmp/seqbench_results --allow-dirty
"""
import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import common

ROOT = common.ROOT
# Per data set: its config prefix, its methods, the main test metric (metrics.json key, its name in
# the summary, its label), the other test metrics (key, label) and what a token is.
DATASETS = {
    "wnut16": {
        "prefix": "wnut16",
        "methods": ["cross_entropy", "crf_tagger", "seal_dynamic_nce", "seal_dynamic_ssvm", "seal_static_nce",
                    "infnet"],
        "main": ("test_f1-measure-overall", "f1", "test span F1"),
        "others": [("test_precision-overall", "precision"), ("test_recall-overall", "recall")],
        "points": "F1",
        "token": "word",
    },
    # The same split with frozen all-MiniLM-L6-v2 features (MINILM_DIR=$(python scripts/minilm_dir.py)).
    "wnut16-minilm": {
        "prefix": "wnut16_minilm",
        "methods": ["cross_entropy", "crf_tagger", "seal_dynamic_nce"],
        "main": ("test_f1-measure-overall", "f1", "test span F1"),
        "others": [("test_precision-overall", "precision"), ("test_recall-overall", "recall")],
        "points": "F1",
        "token": "word",
    },
    "ocr": {
        "prefix": "ocr",
        "methods": ["cross_entropy", "seal_dynamic_nce"],
        "main": ("test_accuracy", "accuracy", "test letter accuracy"),
        "others": [("test_sequence_accuracy", "word accuracy")],
        "points": "letter accuracy",
        "token": "letter",
    },
    # Part of speech (142 plain tags), trained on the first 5,000 training sentences (the configs'
    # train_instances).  crf_tagger reports no whole-sentence accuracy, so token accuracy only.
    # crf_*: the project's linear-chain CRF as the task-net (issue #39).
    "brown-pos": {
        "prefix": "brown_pos",
        "methods": ["cross_entropy", "crf_tagger", "seal_dynamic_nce", "crf_cross_entropy", "crf_seal_dynamic_nce"],
        "main": ("test_accuracy", "accuracy", "test token accuracy"),
        "others": [],
        "points": "accuracy",
        "token": "word",
    },
}
GOAL = 1.2  # the bound on seal_dynamic_nce's test-time cost against cross_entropy's


def config_path(config_dir: str, prefix: str, method: str) -> str:
    return os.path.join(config_dir, f"{prefix}_{method}.jsonnet")


def tokens(batch: dict) -> int:
    """Real positions of a batch: the text field's mask (words), else the OCR letter mask."""
    from allennlp.nn.util import get_text_field_mask

    mask = get_text_field_mask(batch["tokens"]) if "tokens" in batch else batch["letter_mask"]
    return int(mask.sum())


def summarise(spec: dict, methods, runs, rates):
    key, name, _ = spec["main"]
    table = []
    for method in methods:
        rows = [r for r in runs if r["method"] == method]
        entry = common.summary_entry(method, rows, key, name,
                                     [k for k, _ in spec["others"]] + ["epochs", "best_epoch", "epoch_seconds"])
        entry["tokens_per_second"] = rates[method]
        table.append(entry)
    return table


def ratios(spec: dict, table) -> list:
    """The SEAL issue's comparisons: seal_dynamic_nce's test-time tagging cost against
    cross_entropy's, and its main metric against cross_entropy's and crf_tagger's, in points; #39's:
    the project's CRF (crf_cross_entropy) and SEAL with it against crf_tagger and cross_entropy."""
    by_method = {e["method"]: e for e in table}
    name, points = spec["main"][1], spec["points"]
    return (common.seal_vs_cross_entropy(by_method, "tokens_per_second", "test-time tagging cost", GOAL) +
            common.points_over(by_method, name, points, peers=("cross_entropy", "crf_tagger")) +
            common.points_over(by_method, name, points, method="crf_cross_entropy",
                               peers=("crf_tagger", "cross_entropy")) +
            common.points_over(by_method, name, points, method="crf_seal_dynamic_nce",
                               peers=("crf_tagger", "crf_cross_entropy", "cross_entropy")))


def write(results_dir, name_of_results, spec, table, runs, seeds, command):
    _, name, label = spec["main"]
    columns = (["method", "seeds", f"{label} (mean ± std)"] + [other for _, other in spec["others"]] +
               ["epochs run", "best epoch (1-based)", "s / epoch (incl. validation)",
                f"test tokens ({spec['token']}s) / s"])
    rows = [[e["method"], e["seeds"], f"{e[f'{name}_mean']:.4f} ± {e[f'{name}_std']:.4f}"] +
            [f"{e[key]:.4f}" for key, _ in spec["others"]] +
            [f"{e['epochs']:.1f}", f"{e['best_epoch'] + 1:.1f}", f"{e['epoch_seconds']:.2f}",
             f"{e['tokens_per_second']:.0f}"]
            for e in table]
    lines = common.table(columns, rows) + [""] + ratios(spec, table)
    bars = [{"name": e["method"], "mean": e[f"{name}_mean"], "std": e[f"{name}_std"]} for e in table]
    common.write(results_dir, name_of_results, command, seeds, {"summary": table, "runs": runs}, lines, bars, label)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="wnut16")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--methods", nargs="+", default=None,
                        help="default: every method of the data set (wnut16: %s; ocr: %s)"
                        % (" ".join(DATASETS["wnut16"]["methods"]), " ".join(DATASETS["ocr"]["methods"])))
    parser.add_argument("--runs-dir", default=None, help="default: runs/benchmark_<dataset>")
    parser.add_argument("--config-dir", default=os.path.join(ROOT, "training_configs", "sequence_tagging"))
    parser.add_argument("--config-prefix", default=None, help="default: the data set's (wnut16, ocr)")
    parser.add_argument("--results-dir", default=common.RESULTS)
    parser.add_argument("--name", default=None,
                        help="the results' file name, <name>.{json,md,png} (default: the data set); "
                             "e.g. wnut16-variants for a table of the other SEAL variants")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs trained at once, each its own `allennlp` process (default 1)")
    common.add_allow_dirty(parser)
    args = parser.parse_args()
    spec = DATASETS[args.dataset]
    methods = args.methods or spec["methods"]
    prefix = args.config_prefix or spec["prefix"]
    configs = {method: os.path.abspath(config_path(args.config_dir, prefix, method)) for method in methods}
    missing = [config for config in configs.values() if not os.path.exists(config)]
    if missing:
        parser.error("no such config: " + ", ".join(missing))
    runs_dir = args.runs_dir or os.path.join(ROOT, "runs", f"benchmark_{args.dataset}")
    os.makedirs(runs_dir, exist_ok=True)
    command = "python benchmarks/sequence_tagging.py " + " ".join(sys.argv[1:])
    keys = [spec["main"][0]] + [key for key, _ in spec["others"]]

    def train_one(method: str, seed: int) -> dict:
        return common.train(configs[method], method, seed, runs_dir, keys)

    if args.jobs > 1:  # train `jobs` runs at a time first; train_all then reuses the finished runs
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda pair: train_one(*pair), [(m, seed) for seed in args.seeds for m in methods]))
    runs = common.train_all(args.seeds, methods, train_one, args.allow_dirty)
    sys.path.insert(0, ROOT)
    import allennlp_models.tagging  # noqa: F401  registers crf_tagger

    import seal  # noqa: F401  registers the components needed to load the archives

    tests = {method: common.data_paths(config)["test"] for method, config in configs.items()}
    rates = common.rates(runs, methods,
                         lambda method, archive: common.throughput(archive, tests[method], common.gold_field, tokens))
    write(args.results_dir, args.name or args.dataset, spec, summarise(spec, methods, runs, rates), runs, args.seeds,
          command)


if __name__ == "__main__":
    main()
