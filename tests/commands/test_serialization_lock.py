"""One training run per serialization directory (seal/commands/serialization_lock.py): the lock
itself, the wrapped `train_model`, and a real training run refused on a locked directory.  A lock
held by another process, and released when that process is killed, is tested in
test_kill_and_resume.py."""
import os
import signal
import time

import pytest

import seal  # noqa: F401  wraps allennlp's train_model
from seal.commands.serialization_lock import SerializationDirectoryInUse, locked, serialization_directory_lock
from tests.util import SEAL_CONFIG, train_in_process


def test_a_second_lock_is_refused_naming_the_directory_and_the_holder(tmp_path):
    with serialization_directory_lock(tmp_path / "run"):
        with pytest.raises(SerializationDirectoryInUse) as refused:
            with serialization_directory_lock(tmp_path / "run"):
                pass
    message = str(refused.value)
    assert str(tmp_path / "run") in message and f"process {os.getpid()}" in message


def test_the_lock_is_released_when_the_body_ends_or_raises(tmp_path):
    with pytest.raises(KeyError):
        with serialization_directory_lock(tmp_path):
            raise KeyError("the run failed")
    with serialization_directory_lock(tmp_path):
        pass


def test_a_process_forked_under_the_lock_does_not_hold_it(tmp_path):
    """Data-loader workers are forked: they must not keep a dead run's directory locked."""
    ready_to_read, ready = os.pipe()
    with serialization_directory_lock(tmp_path):
        child = os.fork()
        if child == 0:  # the fork hooks have run when fork returns
            os.write(ready, b"1")
            time.sleep(60)
            os._exit(0)
        assert os.read(ready_to_read, 1) == b"1"
    try:
        with serialization_directory_lock(tmp_path):
            pass
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        os.close(ready_to_read), os.close(ready)


def is_locked(directory) -> bool:
    try:
        with serialization_directory_lock(directory):
            return False
    except SerializationDirectoryInUse:
        return True


def recording_train_model(calls, directory):
    """A stand-in for AllenNLP's train_model (same parameters) that records how it was called,
    the directory's contents, and whether the directory was locked meanwhile."""

    def train_model(params, serialization_dir, recover=False, force=False, node_rank=0, include_package=None,
                    dry_run=False, file_friendly_logging=False, return_model=None):
        contents = sorted(os.listdir(directory)) if os.path.isdir(directory) else None
        held = contents is not None and is_locked(directory)
        calls.append({"recover": recover, "force": force, "contents": contents, "locked": held})
        return "model"

    return train_model


def test_force_empties_the_directory_under_the_lock(tmp_path):
    run = tmp_path / "run"
    (run / "vocabulary").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    calls = []
    assert locked(recording_train_model(calls, run))({}, run, force=True) == "model"
    assert calls == [{"recover": False, "force": False, "contents": [], "locked": True}]
    with serialization_directory_lock(run):  # released
        pass


@pytest.mark.parametrize("force, exists", [(True, True), (False, False)], ids=["with-force", "no-directory"])
def test_recover_that_allennlp_refuses_reaches_it_untouched(tmp_path, force, exists):
    run = tmp_path / "run"
    if exists:
        run.mkdir()
        (run / "config.json").write_text("{}")
    calls = []
    locked(recording_train_model(calls, run))({}, str(run), recover=True, force=force)
    assert calls == [{"recover": True, "force": force, "contents": ["config.json"] if exists else None,
                      "locked": False}]


def test_allennlp_train_model_is_wrapped_once():
    from allennlp.commands import train

    from seal.commands import serialization_lock

    wrapped = train.train_model
    assert wrapped.seal_locked
    serialization_lock.install()
    assert train.train_model is wrapped


@pytest.mark.parametrize("option", ["force", "recover"])
def test_training_on_a_locked_directory_is_refused_and_touches_nothing(tmp_path, option):
    run = tmp_path / "run"
    run.mkdir()
    files = {"config.json": "{}", "model_state_e1_b0.th": "weights"}
    for name, text in files.items():
        (run / name).write_text(text)
    with serialization_directory_lock(run):
        with pytest.raises(SerializationDirectoryInUse, match="in use by another training run"):
            train_in_process(SEAL_CONFIG, run, {}, **{option: True})
    assert {path.name: path.read_text() for path in run.iterdir()} == files
