"""benchmarks/learning_curves.py: per-epoch validation metrics of runs, side by side."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import learning_curves  # noqa: E402


def write_run(directory, f1s, durations):
    directory.mkdir()
    for epoch, (f1, duration) in enumerate(zip(f1s, durations)):
        with open(directory / f"metrics_epoch_{epoch}.json", "w") as handle:
            json.dump({"epoch": epoch, "training_duration": duration, "validation_f1": f1}, handle)
    return str(directory)


@pytest.fixture
def curves(tmp_path):
    # 11 epochs for "long": epoch 10 must come after 9, not after 1
    long_f1s = [0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.62, 0.61, 0.63, 0.7]
    long_run = write_run(tmp_path / "long", long_f1s, [f"0:00:{10 * (k + 1)}" for k in range(11)])
    # "short" was resumed with --recover after epoch 1: AllenNLP's clock restarted
    short_run = write_run(tmp_path / "short", [0.3, 0.5, 0.5], ["0:01:00", "0:02:00", "0:00:30"])
    return {"long": learning_curves.curve(long_run, ["validation_f1"]),
            "short": learning_curves.curve(short_run, ["validation_f1"])}


def test_curve_is_in_epoch_order_with_cumulative_minutes_over_recover_segments(curves):
    assert [row["epoch"] for row in curves["long"]] == list(range(11))
    assert curves["long"][10]["validation_f1"] == 0.7
    assert curves["long"][10]["minutes"] == pytest.approx(110 / 60)
    assert [row["minutes"] for row in curves["short"]] == pytest.approx([1.0, 2.0, 2.5])


def test_best_epoch_is_the_first_of_ties(curves):
    assert learning_curves.best_epochs(curves, "validation_f1") == {"long": 10, "short": 1}


def test_markdown_has_a_row_per_epoch_with_the_best_in_bold_and_blanks_after_a_short_run(curves):
    lines = learning_curves.markdown(curves, ["validation_f1"])
    assert lines[0] == "| epoch | long validation_f1 | short validation_f1 | long minutes | short minutes |"
    assert lines[2] == "| 0 | 0.1000 | 0.3000 | 0.2 | 1.0 |"
    assert lines[3] == "| 1 | 0.2000 | **0.5000** | 0.3 | 2.0 |"
    assert lines[12] == "| 10 | **0.7000** |  | 1.8 |  |"
    assert "- short: best validation_f1 0.5000 at epoch 1 (3 epochs run)" in lines


def test_a_missing_metric_or_directory_names_the_run(tmp_path, curves):
    run = write_run(tmp_path / "other", [0.1], ["0:00:01"])
    with pytest.raises(SystemExit, match="no \\['validation_macro_f1'\\]"):
        learning_curves.curve(run, ["validation_macro_f1"])
    with pytest.raises(SystemExit, match="no metrics_epoch"):
        learning_curves.curve(str(tmp_path), ["validation_f1"])


def test_plot_writes_a_png(tmp_path, curves):
    path = tmp_path / "curves.png"
    learning_curves.plot(str(path), curves, ["validation_f1"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
