"""The sequence-labelling benchmark end to end on the OCR fixture (benchmarks/sequence_tagging.py)."""
import csv
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_benchmark_trains_times_and_writes_its_table_under_the_given_name(tmp_path):
    # Run from the repository root: the fixture configs' data paths start there.
    command = [sys.executable, "benchmarks/sequence_tagging.py", "--dataset", "ocr",
               "--config-dir", "fixtures/configs", "--config-prefix", "ocr_small",
               "--methods", "cross_entropy", "--seeds", "1",
               "--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results"),
               "--name", "ocr-smoke", "--allow-dirty"]  # the working tree's seal/ may hold uncommitted edits
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)

    assert sorted(os.listdir(tmp_path / "results")) == ["ocr-smoke.json", "ocr-smoke.md", "ocr-smoke.png",
                                                        "ocr-smoke.runs.csv"]
    with open(tmp_path / "results" / "ocr-smoke.json") as handle:
        record = json.load(handle)
    assert record["seeds"] == [1]
    assert [entry["method"] for entry in record["summary"]] == ["cross_entropy"]
    (run,) = record["runs"]
    assert 0.0 <= run["test_accuracy"] <= 1.0 and run["epochs"] >= 1
    assert record["summary"][0]["tokens_per_second"] > 0
    table = (tmp_path / "results" / "ocr-smoke.md").read_text()
    assert "--name ocr-smoke" in table and "| cross_entropy | 1 |" in table
    # the code version: recorded in the run directory, the table and its runs file
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert record["code_version"]["commits"] == [head]
    assert f"runs made at `{head[:10]}`" in table
    with open(tmp_path / "results" / "ocr-smoke.runs.csv") as handle:
        (row,) = list(csv.DictReader(handle))
    assert (row["run"], row["code_commit"]) == ("cross_entropy_seed1", head)
    assert float(row["test_accuracy"]) == run["test_accuracy"]


def test_the_crf_rows_are_compared_with_crf_tagger_and_cross_entropy():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import sequence_tagging

    spec = sequence_tagging.DATASETS["brown-pos"]
    table = [{"method": method, "accuracy_mean": mean}
             for method, mean in [("cross_entropy", 0.88), ("crf_tagger", 0.91), ("crf_cross_entropy", 0.915)]]
    assert sequence_tagging.ratios(spec, table) == [
        "- crf_cross_entropy minus crf_tagger: +0.50 accuracy points (0.9150 vs 0.9100)",
        "- crf_cross_entropy minus cross_entropy: +3.50 accuracy points (0.9150 vs 0.8800)",
    ]
