"""The benchmark scripts' run bookkeeping (benchmarks/common.py)."""
import json
import os
import subprocess
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


def git_head() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=common.ROOT, capture_output=True, text=True).stdout.strip()


def made_with(seal_commit, dirty=False, commit="c" * 40):
    return {"commit": commit, "seal_commit": seal_commit, "seal_dirty": dirty}


def finished_run(runs_dir, name, version):
    """A run directory as the scripts leave it: metrics and (when given) the code version it was made with."""
    run = runs_dir / name
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"epoch": 0, "best_epoch": 0}))
    if version is not None:
        (run / common.VERSION_FILE).write_text(json.dumps(version))
    method, seed = name.rsplit("_seed", 1)
    return {"method": method, "seed": int(seed), "code_version": common.read_code_version(str(run))}


def test_code_version_names_the_checked_out_commit_and_the_last_commit_of_seal():
    version = common.code_version()
    assert version["commit"] == git_head()
    assert len(version["seal_commit"]) == 40 and isinstance(version["seal_dirty"], bool)


def test_a_run_records_the_code_version_it_started_with_only_when_it_succeeds(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "code_version", lambda: made_with("5" * 40))
    out = str(tmp_path / "run")
    assert common.train_recording_version([sys.executable, "-c", f"import os; os.makedirs({out!r})"], out) == 0
    assert common.read_code_version(out) == made_with("5" * 40)
    failed = str(tmp_path / "failed")
    failing = [sys.executable, "-c", f"import os; os.makedirs({failed!r}); exit(3)"]
    assert common.train_recording_version(failing, failed) == 3
    assert common.read_code_version(failed) is None
    assert (tmp_path / "failed.log").exists()


def test_runs_of_one_commit_of_seal_share_a_table(tmp_path):
    runs = [finished_run(tmp_path, "cross_entropy_seed1", made_with("5" * 40, commit="a" * 40)),
            finished_run(tmp_path, "seal_dynamic_nce_seed1", made_with("5" * 40, commit="b" * 40))]
    assert common.seal_version(runs) == {"seal_commit": "5" * 40, "seal_dirty": False, "commits": ["a" * 40, "b" * 40]}


def test_runs_of_different_commits_of_seal_are_refused_even_when_dirty_runs_are_allowed(tmp_path):
    runs = [finished_run(tmp_path, "cross_entropy_seed1", made_with("5" * 40)),
            finished_run(tmp_path, "cross_entropy_seed2", made_with("6" * 40)),
            finished_run(tmp_path, "seal_dynamic_nce_seed1", made_with("6" * 40))]
    message = (r"different versions of seal/ cannot share a table \(seal/ at 5{40}: cross_entropy seed 1; "
               r"seal/ at 6{40}: cross_entropy seed 2, seal_dynamic_nce seed 1\)")
    with pytest.raises(SystemExit, match=message):
        common.seal_version(runs, allow_dirty=True)


def test_runs_with_uncommitted_changes_in_seal_are_refused_unless_allowed(tmp_path):
    runs = [finished_run(tmp_path, "cross_entropy_seed1", made_with("5" * 40)),
            finished_run(tmp_path, "cross_entropy_seed2", made_with("5" * 40, dirty=True))]
    with pytest.raises(SystemExit, match="cross_entropy seed 2 were made with uncommitted changes.*--allow-dirty"):
        common.seal_version(runs)
    assert common.seal_version(runs, allow_dirty=True)["seal_dirty"] is True
    outside_git = [finished_run(tmp_path, "crf_tagger_seed1", made_with(None, dirty=None, commit=None))]
    with pytest.raises(SystemExit, match=r"crf_tagger seed 1 were made with uncommitted changes in seal/ \(or outside"):
        common.seal_version(outside_git)


def test_runs_without_a_recorded_code_version_are_refused(tmp_path):
    runs = [finished_run(tmp_path, "cross_entropy_seed1", made_with("5" * 40)),
            finished_run(tmp_path, "cross_entropy_seed2", None)]
    with pytest.raises(SystemExit, match="no code_version.json in the run directories of cross_entropy seed 2"):
        common.seal_version(runs, allow_dirty=True)


def test_train_all_stops_at_the_first_run_of_another_version(tmp_path, capsys):
    versions = {1: made_with("5" * 40), 2: made_with("6" * 40), 3: made_with("6" * 40)}
    trained = []

    def train_one(method, seed):
        trained.append(seed)
        return {"method": method, "seed": seed, "code_version": versions[seed]}

    with pytest.raises(SystemExit, match="different versions of seal/"):
        common.train_all([1, 2, 3], ["cross_entropy"], train_one)
    assert trained == [1, 2]


def test_version_line_states_the_seal_commit_or_the_commit_that_recorded_old_runs():
    version = {"seal_commit": "5" * 40, "seal_dirty": True, "commits": ["a" * 40, "b" * 40]}
    assert common.version_line(version) == ("Code: seal/ as of commit `5555555555` with uncommitted changes in seal/ "
                                            "(no commit reproduces them); runs made at `aaaaaaaaaa`, `bbbbbbbbbb`  ")
    assert common.version_line({"recorded_in_commit": "d" * 40}).startswith(
        "Code: runs recorded in commit `dddddddddd` (made at or before it;")


def small_repository(path):
    """A git repository with a committed seal/ package, for the version bookkeeping."""
    def run(*args):
        return subprocess.run(args, cwd=path, check=True, capture_output=True, text=True).stdout.strip()

    run("git", "init", "-q")
    run("git", "config", "user.email", "t@example.org")
    run("git", "config", "user.name", "t")
    (path / "seal").mkdir()
    (path / "seal" / "model.py").write_text("A = 1\n")
    run("git", "add", "seal")
    run("git", "commit", "-q", "-m", "first")
    return run


def test_a_run_made_before_its_seal_changes_were_committed_counts_as_made_at_that_commit(tmp_path, monkeypatch):
    run = small_repository(tmp_path)
    monkeypatch.setattr(common, "ROOT", str(tmp_path))
    (tmp_path / "seal" / "model.py").write_text("A = 2\n")
    during_the_run = common.code_version()
    assert during_the_run["seal_dirty"] is True
    assert common.committed_version(during_the_run) == during_the_run  # not committed yet: stays dirty
    run("git", "commit", "-q", "-am", "second")
    resolved = common.committed_version(during_the_run)
    assert resolved["seal_commit"] == run("git", "rev-parse", "HEAD") and resolved["seal_dirty"] is False
    assert resolved["seal_committed_after_run"] is True
    # a later, different change does not take the version of the commit before it
    (tmp_path / "seal" / "model.py").write_text("A = 3\n")
    assert common.committed_version(common.code_version())["seal_dirty"] is True


def test_seal_tree_of_a_clean_checkout_is_the_committed_tree(tmp_path, monkeypatch):
    run = small_repository(tmp_path)
    monkeypatch.setattr(common, "ROOT", str(tmp_path))
    assert common.seal_tree() == run("git", "rev-parse", "HEAD:seal")
    assert run("git", "status", "--porcelain") == ""  # the repository's own index is untouched
