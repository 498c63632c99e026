"""SRL on the hand-written fixtures (fixtures/srl) with a tiny random BERT: does each method fit
the training files, and what does it score on dev and test?  The fixtures are far too small to
rank methods; this checks that the whole pipeline learns (issue: train span F1 >= 0.9).

For each method and seed it writes the tiny BERT once (scripts/tiny_bert.py, hidden 64, vocabulary
of the fixtures), runs `allennlp train fixtures/configs/srl_small_<method>.jsonnet` with it as
TRANSFORMER_MODEL, then `allennlp evaluate`s the archive on the train and dev directories (the
fixture configs select the epoch on the training files; test is scored by `allennlp train`).
Metrics: srl-eval.pl span F1 (V excluded).  Writes `benchmarks/results/srl-fixtures.{json,md,runs.csv,png}`
(runs of one commit of seal/, as every table: common.seal_version).

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/srl_fixtures.py [--seeds 1 2 3] [--methods ...]
"""
import argparse
import json
import os
import subprocess
import sys

import common

ROOT = common.ROOT
METHODS = ["cross_entropy", "seal_dynamic_nce"]
SPLITS = ("train", "dev")


def evaluate(archive: str, split: str) -> float:
    output = archive.replace("model.tar.gz", f"evaluate_{split}.json")
    if not os.path.exists(output):
        command = [os.path.join(ROOT, ".venv", "bin", "allennlp"), "evaluate", archive,
                   os.path.join(ROOT, "fixtures", "srl", split), "--output-file", output, "--include-package", "seal"]
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    with open(output) as handle:
        return json.load(handle)["f1-measure-overall"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--runs-dir", default=os.path.join(ROOT, "runs", "benchmark_srl-fixtures"))
    parser.add_argument("--results-dir", default=common.RESULTS)
    common.add_allow_dirty(parser)
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    from scripts.tiny_bert import write_tiny_bert

    os.makedirs(args.runs_dir, exist_ok=True)
    bert = os.path.join(args.runs_dir, "tiny_bert")
    if not os.path.exists(os.path.join(bert, "config.json")):
        write_tiny_bert(bert, [os.path.join(ROOT, "fixtures", "srl")], hidden=64)
    os.environ["TRANSFORMER_MODEL"] = bert
    keys = ["test_f1-measure-overall"]
    configs = {m: os.path.join(ROOT, "fixtures", "configs", f"srl_small_{m}.jsonnet") for m in args.methods}
    runs = common.train_all(args.seeds, args.methods,
                            lambda method, seed: common.train(configs[method], method, seed, args.runs_dir, keys),
                            args.allow_dirty)
    for run in runs:
        run.update({f"{split}_f1": evaluate(run["archive"], split) for split in SPLITS})
    table, rows = [], []
    for method in args.methods:
        mine = [r for r in runs if r["method"] == method]
        entry = common.summary_entry(method, mine, "train_f1", "train_f1",
                                     ["dev_f1", "test_f1-measure-overall", "epoch_seconds"])
        table.append(entry)
        rows.append([method, entry["seeds"], f"{entry['train_f1_mean']:.3f} ± {entry['train_f1_std']:.3f}",
                     f"{min(r['train_f1'] for r in mine):.3f}", f"{entry['dev_f1']:.3f}",
                     f"{entry['test_f1-measure-overall']:.3f}", f"{entry['epoch_seconds']:.2f}"])
    columns = ["method", "seeds", "train span F1 (mean ± std)", "train F1, worst seed", "dev span F1", "test span F1",
               "s / epoch"]
    lines = common.table(columns, rows) + ["", "Train F1: the archived model (epoch chosen on the training files) "
                                           "evaluated on fixtures/srl/train; goal >= 0.9 for every method."]
    bars = [{"name": e["method"], "mean": e["train_f1_mean"], "std": e["train_f1_std"]} for e in table]
    command = "python benchmarks/srl_fixtures.py " + " ".join(sys.argv[1:])
    common.write(args.results_dir, "srl-fixtures", command, args.seeds, {"summary": table, "runs": runs}, lines, bars,
                 "train span F1")


if __name__ == "__main__":
    main()
