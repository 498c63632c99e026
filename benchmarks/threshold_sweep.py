"""How multi-label archives score when the decision threshold is chosen on dev instead of fixed at 0.5.

For each archive: its probabilities on the dev and test files of its config; for every threshold
of the grid, dev example-F1 and macro-F1 (seal's own metrics); the threshold with the best dev
value of each metric of `--select` is then applied to test. The test set never chooses anything.

Usage: .venv/bin/python benchmarks/threshold_sweep.py NAME=ARCHIVE [NAME=ARCHIVE ...] \
           [--thresholds 0.1 0.15 ... 0.5] [--select example_f1 macro_f1] [--out benchmarks/results/NAME.md]
"""
import argparse

import common
from per_label_f1 import predictions

# The table's cells after the threshold: (scores of `sweep`, metric, column).
CELLS = [("dev", "example_f1", "dev example-F1"), ("dev", "macro_f1", "dev macro-F1"),
         ("test", "example_f1", "test example-F1"), ("test", "macro_f1", "test macro-F1"),
         ("test_at_0.5", "example_f1", "test example-F1 at 0.5"), ("test_at_0.5", "macro_f1", "test macro-F1 at 0.5")]
DEFAULT_THRESHOLDS = [0.02, 0.05, 0.08, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5]


def scores(probabilities, gold, threshold: float) -> dict:
    """seal's example-F1 and micro / macro F1 of the labels at probability >= threshold."""
    from seal.metrics.multilabel import ExampleF1, MultilabelMicroMacroF1

    example, micro_macro = ExampleF1(threshold), MultilabelMicroMacroF1(threshold)
    example(probabilities, gold)
    micro_macro(probabilities, gold)
    return {"example_f1": example.get_metric(), **micro_macro.get_metric()}


def sweep(archive: str, thresholds, selects) -> dict:
    """Per metric of `selects`: the threshold with the best dev value, dev and test scores at it,
    and test scores at 0.5."""
    dev = predictions(archive, "validation_data_path")[:2]
    test = predictions(archive, "test_data_path")[:2]
    by_threshold = {t: scores(*dev, t) for t in thresholds}
    at_half = scores(*test, 0.5)
    results = {}
    for select in selects:
        best = max(thresholds, key=lambda t: by_threshold[t][select])
        results[select] = {"threshold": best, "dev": by_threshold[best], "test": scores(*test, best),
                           "test_at_0.5": at_half}
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("archives", nargs="+", help="NAME=path/to/model.tar.gz")
    parser.add_argument("--thresholds", type=float, nargs="+", default=DEFAULT_THRESHOLDS)
    parser.add_argument("--select", nargs="+", default=["example_f1", "macro_f1"],
                        choices=["macro_f1", "example_f1", "micro_f1"])
    parser.add_argument("--out")
    args = parser.parse_args()
    results = {name: sweep(path, args.thresholds, args.select) for name, path in common.named_archives(args.archives)}
    lines = [f"Thresholds tried on dev: {args.thresholds}", ""]
    for select in args.select:
        columns = ["archive", f"threshold (best dev {select})"] + [column for _, _, column in CELLS]
        rows = [[name, r[select]["threshold"]] + [f"{r[select][split][metric]:.4f}" for split, metric, _ in CELLS]
                for name, r in results.items()]
        lines += common.table(columns, rows) + [""]
    common.report(lines, args.out)


if __name__ == "__main__":
    main()
