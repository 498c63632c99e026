"""SealCheckpointer on hand-made checkpoints (no training): the newest intact checkpoint after each
kind of damage to the latest one, with a warning naming the file and the damage; a clear error
when none is intact; saves that leave no partial file; AllenNLP's retention unchanged.  And the
random states that SealTrainer stores in checkpoints survive a safe (`weights_only`) load."""
import logging
import os
import random

import numpy
import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.training.trainer import TrainerCheckpoint

from seal.training import SealCheckpointer, random_state

POINTS = [(1, 0), (1, 2), (2, 0)]  # (epochs completed, batches of the next epoch completed)
LATEST = "e2_b0"


class FakeTrainer:
    def __init__(self, point):
        self.point = point

    def get_checkpoint_state(self):
        epochs, batches = self.point
        weights = {"weight": torch.full((3,), float(10 * epochs + batches))}
        training_state = {"epochs_completed": epochs, "batches_in_epoch_completed": batches,
                          "random_states": {"checkpoint": random_state.capture(), "epoch_start": None}}
        return TrainerCheckpoint(weights, training_state)


def saved_checkpoints(directory, points=POINTS, **kwargs):
    checkpointer = SealCheckpointer(directory, **{"keep_most_recent_by_count": None, **kwargs})
    for point in points:
        checkpointer.save_checkpoint(FakeTrainer(point))
    return checkpointer


def recovered_point(checkpoint):
    return checkpoint.trainer_state["epochs_completed"], checkpoint.trainer_state["batches_in_epoch_completed"]


def truncated(data):
    return data[: len(data) // 2]


def random_bytes(data):
    return random.Random(0).randbytes(len(data))


def random_bytes_in_the_archive(data):
    """The zip structure intact, the pickled state inside it overwritten with random bytes."""
    position = data.index(b"data.pkl") + 200
    return data[:position] + random.Random(0).randbytes(64) + data[position + 64:]


# damage -> the words the warning uses for it
DAMAGE = {
    "truncated": (truncated, "is not a complete PyTorch checkpoint"),
    "emptied": (lambda data: b"", "is empty (0 bytes)"),
    "random-bytes": (random_bytes, "is not a complete PyTorch checkpoint"),
    "random-bytes-inside": (random_bytes_in_the_archive, "cannot be"),
    "deleted": (None, "is missing"),
}


# (a missing model state is no checkpoint at all: see the test after this one)
CASES = [(damage, state) for damage in DAMAGE for state in ("model_state", "training_state")
         if (damage, state) != ("deleted", "model_state")]


@pytest.mark.parametrize("damage, state", CASES, ids=[f"{damage}-{state}" for damage, state in CASES])
def test_a_damaged_latest_checkpoint_is_named_set_aside_and_the_previous_one_recovered(tmp_path, caplog, damage,
                                                                                       state):
    checkpointer = saved_checkpoints(tmp_path)
    damaged = tmp_path / f"{state}_{LATEST}.th"
    corrupt, words = DAMAGE[damage]
    if corrupt is None:
        damaged.unlink()
    else:
        damaged.write_bytes(corrupt(damaged.read_bytes()))

    with caplog.at_level(logging.WARNING, logger="seal.training.checkpointer"):
        checkpoint = checkpointer.load_checkpoint()

    assert recovered_point(checkpoint) == (1, 2)
    assert torch.equal(checkpoint.model_state["weight"], torch.full((3,), 12.0))
    log = caplog.text
    assert f"Checkpoint {LATEST} is unusable: {damaged} {words}" in log
    assert "Recovering from checkpoint e1_b2" in log
    assert "weights_only=False" not in log and "set to `False`" not in log  # no advice to load unsafely
    # set aside: neither a later --recover, nor retention, nor best.th sees it as a checkpoint
    assert sorted(path.name for path in tmp_path.glob(f"*{LATEST}*")) == (
        [f"model_state_{LATEST}.th.damaged"] + ([] if damage == "deleted" else [f"training_state_{LATEST}.th.damaged"])
    )
    assert recovered_point(checkpointer.load_checkpoint()) == (1, 2)
    assert checkpointer.find_latest_checkpoint()[0].endswith("model_state_e1_b2.th")


def test_a_training_state_without_its_model_state_is_no_checkpoint(tmp_path, caplog):
    """What a save cut between its two files leaves (the model state is written last)."""
    checkpointer = saved_checkpoints(tmp_path)
    (tmp_path / f"model_state_{LATEST}.th").unlink()
    with caplog.at_level(logging.WARNING, logger="seal.training.checkpointer"):
        assert recovered_point(checkpointer.load_checkpoint()) == (1, 2)
    assert not caplog.text


def test_several_damaged_checkpoints_are_skipped_to_the_newest_intact_one(tmp_path, caplog):
    checkpointer = saved_checkpoints(tmp_path)
    (tmp_path / "training_state_e2_b0.th").write_bytes(b"")
    (tmp_path / "model_state_e1_b2.th").write_bytes(b"\x00" * 100)
    with caplog.at_level(logging.WARNING, logger="seal.training.checkpointer"):
        assert recovered_point(checkpointer.load_checkpoint()) == (1, 0)
    assert "Checkpoint e2_b0 is unusable" in caplog.text and "Checkpoint e1_b2 is unusable" in caplog.text


def test_no_intact_checkpoint_is_a_configuration_error_naming_every_damaged_file(tmp_path):
    checkpointer = saved_checkpoints(tmp_path, points=POINTS[1:])
    for path in tmp_path.glob("model_state_*.th"):
        path.write_bytes(b"")
    with pytest.raises(ConfigurationError, match="no intact checkpoint") as error:
        checkpointer.load_checkpoint()
    for point in ("e1_b2", "e2_b0"):
        assert f"model_state_{point}.th is empty" in str(error.value)
    assert not list(tmp_path.glob("*.damaged"))  # left in place: the next --recover says the same


def test_no_checkpoint_at_all_starts_afresh(tmp_path):
    assert SealCheckpointer(tmp_path).load_checkpoint() is None


def test_a_save_interrupted_while_writing_leaves_no_file_under_a_checkpoint_name(tmp_path, monkeypatch):
    checkpointer = saved_checkpoints(tmp_path, points=POINTS[:2])
    before = sorted(os.listdir(tmp_path))

    def dies_half_way(state, file):
        file.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        checkpointer.save_checkpoint(FakeTrainer((2, 0)))
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == before
    assert recovered_point(checkpointer.load_checkpoint()) == (1, 2)


def test_a_checkpoint_saved_again_replaces_the_old_files(tmp_path):
    """After recovering from an older checkpoint, the run passes the same points again."""
    checkpointer = saved_checkpoints(tmp_path, points=[(1, 0)])
    trainer = FakeTrainer((1, 0))
    trainer.get_checkpoint_state = lambda: TrainerCheckpoint({"weight": torch.zeros(1)},
                                                             {"epochs_completed": 1, "batches_in_epoch_completed": 0})
    checkpointer.save_checkpoint(trainer)
    assert torch.equal(checkpointer.load_checkpoint().model_state["weight"], torch.zeros(1))


def test_keep_most_recent_by_count_works_as_in_allennlp(tmp_path):
    saved_checkpoints(tmp_path, keep_most_recent_by_count=2)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "model_state_e1_b2.th", "model_state_e2_b0.th", "training_state_e1_b2.th", "training_state_e2_b0.th"
    ]


def draws():
    return random.random(), numpy.random.rand(), torch.rand(3).tolist(), numpy.random.randn()


def test_random_states_round_trip_through_a_safe_load(tmp_path):
    random.seed(1), numpy.random.seed(2), torch.manual_seed(3)
    numpy.random.randn()  # leaves a cached Gaussian in NumPy's state
    torch.save(random_state.capture(), tmp_path / "states.th")
    expected = draws()
    draws()
    random_state.restore(torch.load(tmp_path / "states.th", weights_only=True))
    assert draws() == expected
