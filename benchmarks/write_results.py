"""Writes benchmarks/RESULTS.md from the tables the benchmark scripts left in benchmarks/results/
(each `<dataset>.md` states its own command, machine, seeds and code version), in a fixed order,
with the plot of each data set next to its table.  Above each table that has a `<dataset>.json`, a
line says which commit its runs were made at and whether `seal/` changed after it (git log of
`seal/` from that commit to HEAD): a stale table is marked as such until it is rerun.  The
benchmark scripts call it after writing their table; run it alone after editing a table's notes
or after committing changes to `seal/`:

    .venv/bin/python benchmarks/write_results.py
"""
import json
import os
import subprocess
from typing import List, Optional

BENCHMARKS = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(BENCHMARKS, "results")

# data set -> (title, what its table measures); data sets without a table are left out.
PER_LABEL = "mean test F1 of the tags in each band (benchmarks/per_label_f1.py)"
THRESHOLDS = "test example-F1 and macro-F1 at the dev-chosen threshold (benchmarks/threshold_sweep.py)"
COLLAPSE = ("runs that collapsed (the kept model predicts one label set on dev, or its best dev example-F1 is "
            "at or below cross-entropy's after one epoch), AllenNLP's default seed and seeds 1-20 "
            "(benchmarks/collapse_rate.py)")
SECTIONS = {
    "scene": ("Multi-label: scene (6 labels, 294 features)", "test example-F1, 5 seeds"),
    "debtags-bow": ("Multi-label: debtags-bow (379 labels, 2000 binary word features)", "test example-F1"),
    "debtags-light": ("Text multi-label: debtags (379 labels), word embeddings + CNN trained from scratch",
                      "test example-F1"),
    "debtags-minilm-frozen": ("Text multi-label: debtags (379 labels), frozen all-MiniLM-L6-v2 (cached) "
                              "+ a trained MLP", "test example-F1"),
    "debtags-light-per-label": ("Text multi-label: debtags, light net, per-tag test F1 by training frequency "
                                "(seed 1)", PER_LABEL),
    "debtags-light-thresholds": ("Text multi-label: debtags, light net, decision thresholds chosen on dev (seed 1)",
                                 THRESHOLDS),
    "debtags-light-throughput": ("Text multi-label: debtags, light net, test-time throughput in alternating rounds "
                                 "(seed 1)", "test documents per second and SEAL's cost against cross-entropy's "
                                 "(benchmarks/throughput.py)"),
    "debtags-minilm-frozen-per-label": ("Text multi-label: debtags, frozen MiniLM, per-tag test F1 by training "
                                        "frequency (seeds 1-3)", PER_LABEL),
    "debtags-minilm-frozen-thresholds": ("Text multi-label: debtags, frozen MiniLM, decision thresholds chosen on dev "
                                         "(seeds 1-3)", THRESHOLDS),
    "debtags-bow-per-label": ("Multi-label: debtags-bow, per-tag test F1 by training frequency (seed 1)", PER_LABEL),
    "debtags-bow-thresholds": ("Multi-label: debtags-bow, decision thresholds chosen on dev (seed 1)", THRESHOLDS),
    "wnut16": ("NER: WNUT-16 (our split of the shared-task training set)", "test span F1 (BIOUL spans)"),
    "wnut16-variants": ("NER: WNUT-16, the other SEAL variants and inference networks (same split, features and "
                        "loss-net)", "test span F1 (BIOUL spans)"),
    "wnut16-minilm": ("NER: WNUT-16, frozen all-MiniLM-L6-v2 features (cached) + BiLSTM", "test span F1 (BIOUL spans)"),
    "ocr": ("Handwritten words: OCR letters (train folds 2-9, test fold 0)", "test letter accuracy"),
    "ocr-crf-scaling": ("Handwritten words: OCR, a linear-chain CRF over a per-letter LeNet (no recurrent layer), "
                        "CRF objectives x training regimes and scalings (issue #39, benchmarks/crf_scaling.py)",
                        "test letter accuracy (fold 0)"),
    "brown-pos": ("Part of speech: Brown (142 plain tags), the first 5,000 training sentences, 4 epochs; the "
                  "project's linear-chain CRF against crf_tagger (issue #39)",
                  "test token accuracy"),
    "horses": ("Binary segmentation: generated horse masks (32x32, 200 train / 50 dev / 78 test)",
               "test mean IoU (foreground IoU per image, averaged over the test images)"),
    "collapse-rate-scene-before": ("Reliability: how often SEAL collapses on scene, before the cross-entropy guard "
                                   "(seal/ of e87a62c, the last before the guard; stale by design)", COLLAPSE),
    "collapse-rate-scene-after": ("Reliability: how often SEAL collapses on scene, with the cross-entropy guard",
                                  COLLAPSE),
    "crf-speed": ("Speed: the linear-chain CRF against AllenNLP's ConditionalRandomField and pytorch-crf (issue #39)",
                  "sequences per second of the log-likelihood with its gradient and of Viterbi, one torch thread "
                  "(benchmarks/crf_speed.py)"),
    "training-speed": ("Speed: seconds per training epoch and test-time examples per second against cross-entropy "
                       "(issue #42)", "SEAL's epoch cost as a ratio to cross-entropy's, measured in one process "
                       "(benchmarks/training_speed.py)"),
    "srl-fixtures": ("SRL: the hand-written CoNLL-2012 fixtures, tiny random BERT (a pipeline check, not a ranking)",
                     "span F1 of srl-eval.pl on the training files (fit)"),
}

HEADER = """# Benchmark results

Every number below was measured by the command stated with its table, on the machine stated
there; nothing is copied from papers.  Model cards in `model_cards/` discuss the numbers and the
goals of the issues.  Each table's runs, one row each (final dev and test metrics, epochs, config
hash, commit), are in `results/<table>.runs.csv`.  A table marked **Stale** was made before a later
change to `seal/` and has not been rerun since.  Regenerate this page with
`.venv/bin/python benchmarks/write_results.py`.
"""


def seal_changes_since(commit: str) -> Optional[List[str]]:
    """Short hashes of the commits after `commit` up to HEAD that changed `seal/`, newest first;
    None outside a git checkout or for a commit it does not have."""
    import common

    try:
        log = common.git("log", "--format=%h", f"{commit}..HEAD", "--", "seal")
    except (OSError, subprocess.CalledProcessError):
        return None
    return log.split()


def freshness(version: dict, changes: Optional[List[str]]) -> str:
    """A table's code line in RESULTS.md: the commit its runs were made at (`seal_commit` of runs
    that recorded their code version, else the commit that recorded them) and the `seal/` commits
    since."""
    recorded = "seal_commit" not in version
    commit = (version["recorded_in_commit"] if recorded else version["seal_commit"]) or "unknown"
    made = f"runs made at or before `{commit[:10]}`" if recorded else f"runs made with seal/ at `{commit[:10]}`"
    if version.get("seal_dirty"):
        made += " plus uncommitted changes"
    if changes is None:
        return f"Code: {made}; whether seal/ changed since is unknown (not a git checkout)  "
    if changes:
        return f"**Stale:** {made}; seal/ changed since (commits {', '.join(changes)}); not yet rerun on main  "
    return f"Code: {made}; seal/ unchanged since  "


def freshness_of(dataset: str) -> Optional[str]:
    """`freshness` of the table's .json, None for a table without one (or without a code version)."""
    path = os.path.join(RESULTS, f"{dataset}.json")
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        version = json.load(handle).get("code_version")
    if version is None:
        return None
    commit = version.get("seal_commit", version.get("recorded_in_commit"))
    return freshness(version, seal_changes_since(commit) if commit else None)


def with_freshness(text: str, line: Optional[str]) -> str:
    """The table's markdown with its `Code:` line replaced by `line` (put above the table when it
    has none)."""
    if line is None:
        return text
    lines = text.split("\n")
    code = [i for i, old in enumerate(lines) if old.startswith("Code: ")]
    if code:
        lines[code[0]] = line
        return "\n".join(lines)
    return line + "\n\n" + text


def main() -> None:
    parts = [HEADER]
    for dataset, (title, measure) in SECTIONS.items():
        table = os.path.join(RESULTS, f"{dataset}.md")
        if not os.path.exists(table):
            continue
        parts.append(f"## {title}\n\nMain metric: {measure}.\n")
        with open(table) as handle:
            parts.append(with_freshness(handle.read().strip(), freshness_of(dataset)) + "\n")
        if os.path.exists(os.path.join(RESULTS, f"{dataset}.png")):
            parts.append(f"![{dataset}](results/{dataset}.png)\n")
    with open(os.path.join(BENCHMARKS, "RESULTS.md"), "w") as out:
        out.write("\n".join(parts))


if __name__ == "__main__":
    main()
