"""`--recover` repeats the uninterrupted run: the fixture SEAL config, interrupted at a training batch
(in-process, by an exception) and resumed, ends with exactly the weights and metrics of the same run
never interrupted, whether it resumes from a checkpoint in the middle or at the end of an epoch; and
after a damaged latest checkpoint, from the newest intact one, saying so.  The run killed by a signal
is in tests/commands/test_kill_and_resume.py."""
import shutil

import pytest
import torch
from allennlp.common import Params

import seal  # noqa: F401  registers the components
from tests.training import interruption
from tests.training.interruption import FINAL_STATE, OVERRIDES, assert_same_run
from tests.util import FIXTURE_CONFIGS, SEAL_CONFIG, read_json, train_in_process

# The WNUT-16 fixture in batches of similar lengths: AllenNLP's bucket sampler draws noise and the
# order of the batches from Python's `random`.
BUCKETED_WNUT16 = """local small = import '{}';
small.st.config(small.wnut16 + {{ bucket_by: ['tokens'] }}, small.st.methods.seal_dynamic_nce)
"""


def train(serialization_dir, monkeypatch, interrupt_at=None, config=SEAL_CONFIG, **kwargs):
    with monkeypatch.context() as patch:
        if interrupt_at is not None:
            patch.setenv(interruption.AT, "{},{}".format(*interrupt_at))
            patch.setenv(interruption.BY, "raise")
        return train_in_process(config, serialization_dir, OVERRIDES, **kwargs)


def interrupted_and_resumed(serialization_dir, monkeypatch, interrupt_at, config=SEAL_CONFIG):
    with pytest.raises(interruption.Interrupted):
        train(serialization_dir, monkeypatch, interrupt_at, config)
    train(serialization_dir, monkeypatch, config=config, recover=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    serialization_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    train(serialization_dir, pytest.MonkeyPatch())
    return serialization_dir


@pytest.mark.parametrize(
    "interrupt_at",
    [
        (0, 3),  # resumes from e0_b2 and trains batch 3 again
        (1, 5),  # the epoch's last batch: resumes from e1_b4
        (2, 1),  # resumes from the end of epoch 1 (e2_b0)
    ],
    ids=["first-epoch", "last-batch", "epoch-end"],
)
def test_a_resumed_run_ends_with_the_weights_of_the_uninterrupted_run(tmp_path, monkeypatch, uninterrupted,
                                                                      interrupt_at):
    run = tmp_path / "run"
    interrupted_and_resumed(run, monkeypatch, interrupt_at)
    assert_same_run(run, uninterrupted)


def test_a_run_with_a_bucket_sampler_resumed_from_the_end_of_its_best_epoch_ends_as_the_uninterrupted_run(
        tmp_path, monkeypatch):
    """Interrupted at batch 2 of epoch 1, the run resumes from e1_b0, the end of epoch 0, its best
    epoch, whose `best.th` AllenNLP writes only after that checkpoint (here: removed, as if the run
    had been killed in between); the resumed run must write it again and end with it."""
    config = tmp_path / "wnut16_bucketed.jsonnet"
    config.write_text(BUCKETED_WNUT16.format(FIXTURE_CONFIGS / "sequence_small.libsonnet"))
    assert Params.from_file(str(config))["data_loader"]["batch_sampler"]["type"] == "bucket"
    reference, run = tmp_path / "uninterrupted", tmp_path / "run"
    train(reference, monkeypatch, config=config)
    assert read_json(reference / "metrics.json")["best_epoch"] == 0  # else this test proves less
    with pytest.raises(interruption.Interrupted):
        train(run, monkeypatch, (1, 2), config)
    (run / "best.th").unlink()
    train(run, monkeypatch, config=config, recover=True)
    assert_same_run(run, reference)


def test_without_the_random_states_the_resumed_run_differs(tmp_path, monkeypatch, uninterrupted):
    """The control: restoring the random states is what makes the resumed run equal."""
    from seal.training import SealTrainer

    monkeypatch.setattr(SealTrainer, "_resume_random_states", lambda self: None)
    run = tmp_path / "run"
    interrupted_and_resumed(run, monkeypatch, (1, 3))
    final = torch.load(run / FINAL_STATE, weights_only=True)
    reference = torch.load(uninterrupted / FINAL_STATE, weights_only=True)
    assert max((final[key] - reference[key]).abs().max().item() for key in final) > 1e-4


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_recover_after_a_damaged_latest_checkpoint_resumes_from_the_newest_intact_one(tmp_path, monkeypatch,
                                                                                       uninterrupted):
    """The finished run keeps its two newest checkpoints (e2_b4, e3_b0); with e3_b0's model state
    truncated, `--recover` names it, sets it aside, trains epoch 2's last batch again from e2_b4 and
    ends where the uninterrupted run ended."""
    run = tmp_path / "run"
    shutil.copytree(uninterrupted, run)
    (run / "metrics.json").unlink()
    damaged = run / FINAL_STATE
    truncate(damaged)

    train(run, monkeypatch, recover=True)

    log = (run / "out.log").read_text()
    assert f"{damaged} is not a complete PyTorch checkpoint" in log
    assert "Recovering from checkpoint e2_b4" in log
    assert "weights_only=False" not in log and "set to `False`" not in log
    assert (run / (FINAL_STATE + ".damaged")).is_file()
    assert_same_run(run, uninterrupted)
