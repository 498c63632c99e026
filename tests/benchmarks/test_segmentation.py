"""The segmentation benchmark (benchmarks/segmentation.py): end to end on the horse fixture, its
comparisons against the issue's goals, and reading only the finished runs."""
import csv
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import segmentation  # noqa: E402

METHODS = ["cross_entropy", "seal_dynamic_nce"]


def test_benchmark_trains_times_and_writes_its_table_and_the_figure_of_predicted_masks(tmp_path):
    # Run from the repository root: the fixture configs' data paths start there.
    runs, results = tmp_path / "runs", tmp_path / "results"
    command = [sys.executable, "benchmarks/segmentation.py", "--config-dir", "fixtures/configs",
               "--config-prefix", "horses_tiny", "--methods", *METHODS, "--seeds", "1",
               "--runs-dir", str(runs), "--results-dir", str(results),
               "--allow-dirty"]  # the working tree's seal/ may hold uncommitted edits
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)

    assert sorted(os.listdir(results)) == ["horses.examples.png", "horses.json", "horses.md", "horses.png",
                                           "horses.runs.csv"]
    record = json.loads((results / "horses.json").read_text())
    table = (results / "horses.md").read_text()
    with open(results / "horses.runs.csv") as handle:
        rows = {row["run"]: row for row in csv.DictReader(handle)}
    assert record["seeds"] == [1]
    assert [entry["method"] for entry in record["summary"]] == METHODS
    for method, entry in zip(METHODS, record["summary"]):
        metrics = json.loads((runs / f"{method}_seed1" / "metrics.json").read_text())
        assert entry["iou_mean"] == metrics["test_mean_iou"] and entry["iou_std"] == 0.0
        assert entry["global_iou_mean"] == metrics["test_global_iou"]
        assert entry["pixel_accuracy_mean"] == metrics["test_pixel_accuracy"]
        assert entry["images_per_second"] > 0 and entry["timed_seed"] == 1
        cells = [f"{metrics[key]:.4f} ± 0.0000" for key in ("test_mean_iou", "test_global_iou", "test_pixel_accuracy")]
        assert f"| {method} | 1 | {' | '.join(cells)} | {metrics['epoch'] + 1:.1f} |" in table
        assert float(rows[f"{method}_seed1"]["test_mean_iou"]) == metrics["test_mean_iou"]
    assert "test images / s" in table and "seal_dynamic_nce epoch / cross_entropy epoch" in table
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert record["code_version"]["commits"] == [head]

    # the figure: 6 of the fixture's 8 test images, spread over them, a row each; small
    figure = results / "horses.examples.png"
    assert record["figure"]["path"] == str(figure) and f"`{figure}`" in table
    assert record["figure"]["test_indices"] == [0, 1, 3, 4, 6, 7]
    assert sorted(record["figure"]["archives"]) == sorted(METHODS)
    assert 0 < figure.stat().st_size < 150_000
    from matplotlib.image import imread

    height, width = imread(str(figure)).shape[:2]
    assert height > width  # six rows of four columns (image, gold, two methods)


def entry(method, iou, rate, epoch_seconds=1.0):
    return {"method": method, "seeds": 5, "iou_mean": iou, "iou_std": 0.01, "images_per_second": rate,
            "epoch_seconds": epoch_seconds}


def test_the_comparisons_state_the_issue_goals_of_speed_and_mean_iou():
    lines = segmentation.ratios([entry("cross_entropy", 0.80, 1000.0), entry("seal_dynamic_nce", 0.815, 950.0, 3.0),
                                 entry("seal_dynamic_dvn", 0.805, 1000.0), entry("dvn", 0.81, 100.0)])
    assert "- seal_dynamic_nce test-time cost / cross_entropy's: 1.05x" in lines
    assert "- seal_dynamic_nce epoch / cross_entropy epoch: 3.00x" in lines
    assert "- seal_dynamic_nce test-time speed / dvn's (GBI): 9.5x (issue goal: at least 10x: not met)" in lines
    assert "- seal_dynamic_dvn test-time speed / dvn's (GBI): 10.0x (issue goal: at least 10x: met)" in lines
    assert ("- seal_dynamic_nce minus cross_entropy: +1.50 mean IoU points (0.8150 vs 0.8000) "
            "(issue goal: at least +1.00 points: met)") in lines
    assert "- seal_dynamic_nce minus dvn: +0.50 mean IoU points (0.8150 vs 0.8100) (issue goal: above it: met)" in lines
    assert ("- seal_dynamic_dvn minus cross_entropy: +0.50 mean IoU points (0.8050 vs 0.8000) "
            "(issue goal: at least +1.00 points: not met)") in lines
    assert ("- seal_dynamic_dvn minus dvn: -0.50 mean IoU points (0.8050 vs 0.8100) "
            "(issue goal: above it: not met)") in lines


def test_without_dvn_or_its_rate_there_is_no_speed_up_line():
    table = [entry("cross_entropy", 0.80, 1000.0), entry("seal_dynamic_nce", 0.82, 950.0), entry("dvn", 0.81, None)]
    assert not any("GBI" in line for line in segmentation.ratios(table))
    assert not any("GBI" in line for line in segmentation.ratios(table[:2]))


@pytest.mark.parametrize("count, images, indices", [(78, 6, [0, 15, 31, 46, 62, 77]), (8, 6, [0, 1, 3, 4, 6, 7]),
                                                    (3, 6, [0, 1, 2]), (5, 1, [0])])
def test_the_figure_shows_images_spread_over_the_test_set(count, images, indices):
    assert segmentation.figure_indices(count, images) == indices


def test_finished_only_reads_the_finished_runs_and_trains_nothing(tmp_path):
    version = {"commit": "c" * 40, "seal_commit": "5" * 40, "seal_dirty": False}
    for method, seed in [("cross_entropy", 1), ("cross_entropy", 2), ("dvn", 1)]:
        run = tmp_path / f"{method}_seed{seed}"
        run.mkdir()
        (run / "metrics_epoch_0.json").write_text(json.dumps({"epoch": 0, "training_duration": "0:00:02"}))
        if (method, seed) != ("dvn", 1):  # dvn seed 1 is still training
            (run / "metrics.json").write_text(json.dumps({"epoch": 0, "best_epoch": 0, "test_mean_iou": 0.5 + seed / 10,
                                                          "test_global_iou": 0.5, "test_pixel_accuracy": 0.9}))
            (run / "code_version.json").write_text(json.dumps(version))
    configs = {method: "no-such-config.jsonnet" for method in segmentation.METHODS}
    runs = segmentation.collect_runs(configs, [1, 2, 3], str(tmp_path), allow_dirty=False, finished_only=True)
    assert [(run["method"], run["seed"], run["test_mean_iou"]) for run in runs] == [
        ("cross_entropy", 1, 0.6), ("cross_entropy", 2, 0.7)]
    assert not list(tmp_path.glob("*.log"))
    with pytest.raises(SystemExit, match="no finished run"):
        segmentation.collect_runs(configs, [3], str(tmp_path), allow_dirty=False, finished_only=True)


def test_dvn_crop_average_is_dvn_trained_once_and_evaluated_with_crop_averaging(tmp_path):
    import tarfile

    import common

    config = tmp_path / "tiny_dvn.jsonnet"  # dvn on the 16x16 fixture images, 2 epochs
    config.write_text(f"local seg = import '{ROOT}/training_configs/segmentation/segmentation.libsonnet';\n"
                      f"seg.config(import '{ROOT}/fixtures/configs/horses_tiny.libsonnet', seg.methods.dvn)")
    keys = [key for key, _, _ in segmentation.METRICS]
    dvn = common.train(str(config), "dvn", 1, str(tmp_path), keys)
    options = {"crop_size": [8, 8], "stride": 4}  # 9 windows of the 16x16 images
    test_path = os.path.join(ROOT, "fixtures", "segmentation", "tiny.npz")
    run = segmentation.derive_crop_average(dvn, str(tmp_path), test_path, options)

    out = tmp_path / "dvn_crop_average_seed1"
    assert run["method"] == "dvn_crop_average" and run["archive"] == str(out / "model.tar.gz")
    with tarfile.open(out / "model.tar.gz") as archive:
        inference = json.load(archive.extractfile("config.json"))["model"]["inference"]
        assert sorted(archive.getnames()) == sorted(tarfile.open(dvn["archive"]).getnames())
    assert inference == {"type": "crop-average", "crop_size": [8, 8], "stride": 4,
                         "sampler": {"type": "gradient-based-inference", "num_steps": 20, "step_size": 1000,
                                     "method": "entropic"}}
    cropped = segmentation.evaluate(run["archive"], test_path)
    assert [run[key] for key in keys] == [cropped[key[len("test_"):]] for key in keys]
    assert [run[key] for key in keys] != [dvn[key] for key in keys]  # the windows change the masks
    metrics, dvn_metrics = (json.loads((tmp_path / name / "metrics.json").read_text())
                            for name in ("dvn_crop_average_seed1", "dvn_seed1"))
    assert {k: v for k, v in metrics.items() if not k.startswith("test_")} == {
        k: v for k, v in dvn_metrics.items() if not k.startswith("test_")}
    assert (run["epochs"], run["best_epoch"], run["code_version"]) == (dvn["epochs"], dvn["best_epoch"],
                                                                       dvn["code_version"])
    assert run["epoch_seconds"] == pytest.approx(dvn["epoch_seconds"], rel=1e-3)  # training_duration's rounding
    assert segmentation.derive_crop_average(dvn, str(tmp_path), test_path, options) == run  # reused


def test_crop_average_windows_are_the_libsonnet_ones():
    assert segmentation.crop_average_options() == {"crop_size": [24, 24], "stride": 4}
