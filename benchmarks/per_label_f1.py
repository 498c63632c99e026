"""Per-label test F1 of multi-label archives, grouped by how often each label occurs in training.

Macro-F1 averages over labels, so it is decided by the many rare ones; this table shows which
frequency band a method gains or loses in. For each archive it runs the model on the test file of
its config (batches of 256, the model's own threshold), counts every label's true / false
positives and false negatives, and groups the labels by their count in the training file.

Usage: .venv/bin/python benchmarks/per_label_f1.py NAME=ARCHIVE [NAME=ARCHIVE ...] \
           [--bands 0 10 30 100 300 100000] [--out benchmarks/results/NAME.md]
"""
import argparse
from typing import Dict, List, Sequence

import torch

import common
from seal.metrics.multilabel import label_f1 as f1  # importing seal registers what archives name


def label_counts(instances, label_field: str, vocab, num_labels: int) -> torch.Tensor:
    """(num_labels,) training occurrences of every label (indices as the model's output has them)."""
    counts = torch.zeros(num_labels)
    for instance in instances:
        field = instance.fields[label_field]
        for label in field.labels:
            counts[label if isinstance(label, int) else vocab.get_token_index(label, field._label_namespace)] += 1
    return counts


def predictions(archive: str, data_key: str = "test_data_path"):
    """The archived model's probabilities and the gold labels, both `(instances, labels)`, on the
    file its config names under `data_key`, plus the loaded archive."""
    from allennlp.data.data_loaders import SimpleDataLoader
    from allennlp.models.archival import load_archive

    loaded = load_archive(archive)
    model = loaded.model.eval()
    loader = SimpleDataLoader(list(loaded.dataset_reader.read(loaded.config[data_key])), 256, vocab=model.vocab)
    probabilities, gold = [], []
    with torch.no_grad():
        for batch in loader:
            gold.append(batch.pop(model.label_field).bool())
            probabilities.append(model(**batch)["probabilities"])
    return torch.cat(probabilities), torch.cat(gold), loaded


def confusion(archive: str) -> Dict[str, torch.Tensor]:
    """Per-label true positives, false positives, false negatives on the test file (at the model's
    threshold), and each label's count in the training file."""
    probabilities, gold, loaded = predictions(archive)
    model = loaded.model
    predicted = model.output_space.decode(probabilities).bool()
    tp, fp, fn = (predicted & gold).sum(0), (predicted & ~gold).sum(0), (~predicted & gold).sum(0)
    counts = label_counts(loaded.dataset_reader.read(loaded.config["train_data_path"]), model.label_field,
                          model.vocab, len(tp))
    return {"tp": tp.float(), "fp": fp.float(), "fn": fn.float(), "train_count": counts}


def band_rows(results: Dict[str, Dict[str, torch.Tensor]], bands: Sequence[int]) -> List[List[str]]:
    counts = next(iter(results.values()))["train_count"]
    rows = []
    for low, high in zip(bands[:-1], bands[1:]):
        in_band = (counts >= low) & (counts < high)
        row = [f"{low}-{high - 1}", str(int(in_band.sum()))]
        for result in results.values():
            scores = f1(result["tp"], result["fp"], result["fn"])[in_band]
            predicted = ((result["tp"] + result["fp"])[in_band] > 0).sum()
            row += [f"{scores.mean():.4f}" if len(scores) else "-", str(int(predicted))]
        rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("archives", nargs="+", help="NAME=path/to/model.tar.gz")
    parser.add_argument("--bands", type=int, nargs="+", default=[0, 10, 30, 100, 300, 100000])
    parser.add_argument("--out")
    parser.add_argument("--include-package", help="a package of your own components, beside seal's")
    args = parser.parse_args()
    if args.include_package:
        __import__(args.include_package)
    results = {name: confusion(path) for name, path in common.named_archives(args.archives)}
    columns = ["training occurrences", "labels"]
    for name in results:
        columns += [f"{name} mean F1", f"{name} labels predicted"]
    lines = common.table(columns, band_rows(results, args.bands))
    for name, result in results.items():
        lines.append(f"- {name}: macro-F1 over all labels {f1(result['tp'], result['fp'], result['fn']).mean():.4f}")
    common.report(lines, args.out)


if __name__ == "__main__":
    main()
