"""A run killed by SIGKILL in the middle of an epoch and resumed with `--recover` ends with the
weights and metrics of the same run never interrupted; while it was alive, no other run could train
in its serialization directory (not with -f, not with --recover), and its death released the lock.

One `allennlp train` subprocess (the run killed: it pauses after training batch 3 of epoch 1, one
batch past its last checkpoint, e1_b2, and is killed there); the other runs are in-process."""
import json
import os
import subprocess
import time

import pytest
import torch

import seal  # noqa: F401  registers the components and wraps train_model
from seal.commands.serialization_lock import SerializationDirectoryInUse
from tests.training import interruption
from tests.training.interruption import OVERRIDES, assert_same_run
from tests.util import ALLENNLP, HANG_GUARD_SECONDS, REPO_ROOT, SEAL_CONFIG, train_in_process


def start_paused_run(run, paused_marker, log):
    """`allennlp train` of the recovery tests' config in `run`, pausing after batch 3 of epoch 1."""
    command = [str(ALLENNLP), "train", str(SEAL_CONFIG), "-s", str(run), "-o", json.dumps(OVERRIDES),
               "--include-package", "seal", "--include-package", "tests.training.interruption"]
    environment = {**os.environ, interruption.AT: "1,3", interruption.BY: str(paused_marker),
                   # the in-process runs it is compared with use this process's threads
                   "OMP_NUM_THREADS": str(torch.get_num_threads())}
    return subprocess.Popen(command, cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)


def wait_until_paused(process, paused_marker, log_path):
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while not paused_marker.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the run did not pause (exit status {process.poll()}):\n"
                                 + log_path.read_text()[-4000:])
        time.sleep(0.2)


def test_a_run_killed_mid_epoch_and_resumed_ends_with_the_uninterrupted_weights(tmp_path):
    run, paused_marker, log_path = tmp_path / "killed", tmp_path / "paused", tmp_path / "killed.log"
    with open(log_path, "w") as log:
        process = start_paused_run(run, paused_marker, log)
    try:
        wait_until_paused(process, paused_marker, log_path)
        checkpoints = sorted(path.name for path in run.glob("*_state_e*.th"))
        assert checkpoints == ["model_state_e1_b0.th", "model_state_e1_b2.th",
                               "training_state_e1_b0.th", "training_state_e1_b2.th"]
        for option in ("force", "recover"):
            with pytest.raises(SerializationDirectoryInUse, match=f"process {process.pid}"):
                train_in_process(SEAL_CONFIG, run, OVERRIDES, **{option: True})
        assert sorted(path.name for path in run.glob("*_state_e*.th")) == checkpoints
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -9  # SIGKILL: no handler, no cleanup ran

    train_in_process(SEAL_CONFIG, run, OVERRIDES, recover=True)
    train_in_process(SEAL_CONFIG, tmp_path / "uninterrupted", OVERRIDES)
    assert_same_run(run, tmp_path / "uninterrupted")
