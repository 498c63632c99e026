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

    import seal  # noqa: F401  (registers the readers and models the archive names)

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


def f1(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
    """Per-label F1; 0 where a label is neither predicted nor present (as macro-F1 counts it)."""
    denominator = 2 * tp + fp + fn
    return torch.where(denominator > 0, 2 * tp / denominator.clamp(min=1), torch.zeros_like(tp))


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
    header = ["training occurrences", "labels"]
    for name in results:
        header += [f"{name} mean F1", f"{name} labels predicted"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in band_rows(results, args.bands)]
    for name, result in results.items():
        lines.append(f"- {name}: macro-F1 over all labels {f1(result['tp'], result['fp'], result['fn']).mean():.4f}")
    common.report(lines, args.out)

if __name__ == "__main__":
    main()
