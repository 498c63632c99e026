"""The benchmark scripts' run bookkeeping (benchmarks/common.py)."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import common  # noqa: E402


def write_epochs(directory, durations):
    for epoch, duration in enumerate(durations):
        with open(directory / f"metrics_epoch_{epoch}.json", "w") as handle:
            json.dump({"epoch": epoch, "training_duration": duration}, handle)


def test_training_seconds_is_the_last_epochs_elapsed_time_for_an_uninterrupted_run(tmp_path):
    write_epochs(tmp_path, ["0:00:10.5", "0:00:21", "1:00:30"])
    assert common.training_seconds(str(tmp_path)) == pytest.approx(3630.0)


def test_training_seconds_sums_the_segments_of_a_recovered_run(tmp_path):
    # 12 epochs: AllenNLP's clock restarts after epoch 4 and after epoch 9 (two --recover)
    write_epochs(tmp_path, ["0:00:10", "0:00:20", "0:00:30", "0:00:40", "0:00:50",
                            "0:00:15", "0:00:25", "0:00:35", "0:00:45", "0:00:55",
                            "0:00:12", "0:01:02"])
    # epoch files sort numerically, not as strings (10, 11 after 9)
    assert common.training_seconds(str(tmp_path)) == pytest.approx(50 + 55 + 62)


def test_named_archives_split_at_the_first_equals_sign_and_reject_a_bare_path():
    assert common.named_archives(["ce=runs/a=b/model.tar.gz"]) == [("ce", "runs/a=b/model.tar.gz")]
    with pytest.raises(SystemExit, match="NAME=ARCHIVE"):
        common.named_archives(["runs/model.tar.gz"])


def test_report_puts_the_command_and_machine_above_the_body_and_writes_it(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["benchmarks/x.py", "--flag"])
    text = common.report(["| a |"], str(tmp_path / "out.md"))
    lines = text.splitlines()
    assert lines[0] == "Command: `python benchmarks/x.py --flag`  " and lines[1].startswith("Machine: ")
    assert lines[-1] == "| a |" and (tmp_path / "out.md").read_text() == text
