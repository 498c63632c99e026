"""Writes benchmarks/RESULTS.md from the tables the benchmark scripts left in benchmarks/results/
(each `<dataset>.md` states its own command, machine and seeds), in a fixed order, with the plot
of each data set next to its table.  The benchmark scripts call it after writing their table;
run it alone after editing a table's notes:

    .venv/bin/python benchmarks/write_results.py
"""
import os

BENCHMARKS = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(BENCHMARKS, "results")

# data set -> (title, what its table measures); data sets without a table are left out.
SECTIONS = {
    "scene": ("Multi-label: scene (6 labels, 294 features)", "test example-F1, 5 seeds"),
    "debtags-bow": ("Multi-label: debtags-bow (379 labels, 2000 binary word features)", "test example-F1"),
    "debtags-light": ("Text multi-label: debtags (379 labels), word embeddings + CNN trained from scratch",
                      "test example-F1"),
    "debtags-minilm-frozen": ("Text multi-label: debtags (379 labels), frozen all-MiniLM-L6-v2 (cached) + a trained MLP",
                              "test example-F1"),
    "debtags-light-per-label": ("Text multi-label: debtags, light net, per-tag test F1 by training frequency (seed 1)",
                                "mean test F1 of the tags in each band (benchmarks/per_label_f1.py)"),
    "debtags-light-thresholds": ("Text multi-label: debtags, light net, decision thresholds chosen on dev (seed 1)",
                                 "test example-F1 and macro-F1 at the dev-chosen threshold (benchmarks/threshold_sweep.py)"),
    "debtags-light-throughput": ("Text multi-label: debtags, light net, test-time throughput in alternating rounds (seed 1)",
                                 "test documents per second and SEAL's cost against cross-entropy's (benchmarks/throughput.py)"),
    "debtags-minilm-frozen-per-label": ("Text multi-label: debtags, frozen MiniLM, per-tag test F1 by training frequency (seeds 1-3)",
                                        "mean test F1 of the tags in each band (benchmarks/per_label_f1.py)"),
    "debtags-minilm-frozen-thresholds": ("Text multi-label: debtags, frozen MiniLM, decision thresholds chosen on dev (seeds 1-3)",
                                         "test example-F1 and macro-F1 at the dev-chosen threshold (benchmarks/threshold_sweep.py)"),
    "debtags-bow-per-label": ("Multi-label: debtags-bow, per-tag test F1 by training frequency (seed 1)",
                              "mean test F1 of the tags in each band (benchmarks/per_label_f1.py)"),
    "debtags-bow-thresholds": ("Multi-label: debtags-bow, decision thresholds chosen on dev (seed 1)",
                               "test example-F1 and macro-F1 at the dev-chosen threshold (benchmarks/threshold_sweep.py)"),
    "wnut16": ("NER: WNUT-16 (our split of the shared-task training set)", "test span F1 (BIOUL spans)"),
    "wnut16-variants": ("NER: WNUT-16, the other SEAL variants and inference networks (same split, features and loss-net)",
                        "test span F1 (BIOUL spans)"),
    "wnut16-minilm": ("NER: WNUT-16, frozen all-MiniLM-L6-v2 features (cached) + BiLSTM", "test span F1 (BIOUL spans)"),
    "ocr": ("Handwritten words: OCR letters (train folds 2-9, test fold 0)", "test letter accuracy"),
    "srl-fixtures": ("SRL: the hand-written CoNLL-2012 fixtures, tiny random BERT (a pipeline check, not a ranking)",
                     "span F1 of srl-eval.pl on the training files (fit)"),
}

HEADER = """# Benchmark results

Every number below was measured by the command stated with its table, on the machine stated
there; nothing is copied from papers.  Model cards in `model_cards/` discuss the numbers and the
goals of the issues.  Regenerate this page with `.venv/bin/python benchmarks/write_results.py`.
"""


def main() -> None:
    parts = [HEADER]
    for dataset, (title, measure) in SECTIONS.items():
        table = os.path.join(RESULTS, f"{dataset}.md")
        if not os.path.exists(table):
            continue
        parts.append(f"## {title}\n\nMain metric: {measure}.\n")
        with open(table) as handle:
            parts.append(handle.read().strip() + "\n")
        if os.path.exists(os.path.join(RESULTS, f"{dataset}.png")):
            parts.append(f"![{dataset}](results/{dataset}.png)\n")
    with open(os.path.join(BENCHMARKS, "RESULTS.md"), "w") as out:
        out.write("\n".join(parts))


if __name__ == "__main__":
    main()
