"""benchmarks/profile_training.py: exclusive timing per step and part, and forward calls per batch."""
import os
import sys

from tests.util import CROSS_ENTROPY_CONFIG, SEAL_CONFIG, configured_num_steps

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import profile_training  # noqa: E402


def test_a_part_inside_another_is_counted_once_in_the_inner_one():
    ticks = iter([0.0, 1.0, 3.0, 6.0])  # outer enters, inner enters, inner leaves, outer leaves
    clock = profile_training.Clock(timer=lambda: next(ticks))
    clock.step = "task_nn"
    with clock.timing("loss"):
        with clock.timing("scoring samples"):
            pass
    assert clock.seconds == {("train", "task_nn", "scoring samples"): 2.0, ("train", "task_nn", "loss"): 4.0}
    assert clock.calls == {("train", "task_nn", "scoring samples"): 1, ("train", "task_nn", "loss"): 1}


def test_the_fixture_configs_profile_with_their_forward_calls_per_batch(tmp_path):
    out = tmp_path / "profile.md"
    cross_entropy, seal = profile_training.main([str(CROSS_ENTROPY_CONFIG), str(SEAL_CONFIG), "--max-batches", "2",
                                                 "--max-validation-batches", "1", "--warmup-batches", "1",
                                                 "--out", str(out)])
    score_steps = configured_num_steps(SEAL_CONFIG)["score_nn"]
    assert seal["batches"] == 2
    assert profile_training.calls_per_batch(seal, "train", 2) == \
        f"task-net forward: 1, loss-net features: {score_steps + 1:g}"
    assert profile_training.calls_per_batch(seal, "validation", 1) == "task-net forward: 1, loss-net features: 1"
    assert profile_training.calls_per_batch(cross_entropy, "train", 2) == "task-net forward: 1, loss-net features: 0"
    # every timed part of an epoch adds up to the epoch
    train_seconds = sum(value for key, value in seal["seconds"].items() if key[0] == "train")
    assert abs(train_seconds - seal["epoch_seconds"]) < 0.05 * seal["epoch_seconds"]
    assert any(key[1:] == ("score_nn", "sampling") for key in seal["seconds"])
    text = out.read_text()
    assert "| % of the train | score_nn step | task_nn step | outside the steps | all |" in text
