"""For the recovery tests: a trainer callback that interrupts training at a chosen training batch,
the config they train, and their comparison of two runs.

It reads the environment, so that the interrupted run, the resumed run and the uninterrupted run
share one config (`--recover` refuses a config that differs):
  SEAL_TEST_INTERRUPT_AT   "epoch,batch" (the epoch 0-based, the batch 1-based as `on_batch` numbers
                           them); the batch is trained, the checkpoint after it is not yet saved
  SEAL_TEST_INTERRUPT_BY   "raise" (raises `Interrupted`: in-process runs) or a file path: the run
                           creates that file and sleeps until it is killed (runs killed by signal)
Without them it does nothing.  `allennlp` subprocesses load it with
`--include-package tests.training.interruption` (from the repository root).
"""
import os
import time
from pathlib import Path

import pytest
import torch
from allennlp.training.callbacks import TrainerCallback

from tests.util import read_json

AT = "SEAL_TEST_INTERRUPT_AT"
BY = "SEAL_TEST_INTERRUPT_BY"
# A paused run that nobody kills ends itself after this long.
PAUSE_LIMIT_SECONDS = 900


class Interrupted(RuntimeError):
    pass


@TrainerCallback.register("seal-test-interruption", exist_ok=True)
class InterruptionCallback(TrainerCallback):
    def on_batch(self, trainer, batch_inputs, batch_outputs, batch_metrics, epoch, batch_number,
                 is_training, is_primary=True, batch_grad_norm=None, **kwargs):
        if not is_training or os.environ.get(AT) != f"{epoch},{batch_number}":
            return
        how = os.environ[BY]
        if how == "raise":
            raise Interrupted(f"epoch {epoch}, batch {batch_number}")
        Path(how).touch()
        time.sleep(PAUSE_LIMIT_SECONDS)
        os._exit(3)


NUM_EPOCHS = 3
# The fixture SEAL config (tests.util.SEAL_CONFIG) for 3 epochs, with a checkpoint every 2 of the 5
# batches of an epoch (40 rows, batches of 8) and at each epoch's end.
OVERRIDES = {
    "trainer.num_epochs": NUM_EPOCHS,
    "trainer.checkpointer.save_every_num_batches": 2,
    "trainer.callbacks": [{"type": "seal-test-interruption"}],
}
FINAL_STATE = f"model_state_e{NUM_EPOCHS}_b0.th"


def assert_same_run(run: Path, reference: Path) -> None:
    """Equal final raw weights, best (archived) weights, best validation and test metrics, to 1e-6
    (on CPU they are equal).  Training metrics are not compared: the epoch a run resumes in counts
    only the batches trained after the checkpoint."""
    for name in (FINAL_STATE, "best.th"):
        expected, actual = (torch.load(directory / name, weights_only=True) for directory in (reference, run))
        assert expected.keys() == actual.keys()
        for key in expected:
            assert torch.allclose(actual[key], expected[key], rtol=0, atol=1e-6), (name, key)
    expected, actual = read_json(reference / "metrics.json"), read_json(run / "metrics.json")
    compared = [key for key in expected if key.startswith(("best_", "test_"))]
    assert "best_epoch" in compared and any(key.startswith("test_") for key in compared)
    assert {key: actual[key] for key in compared} == pytest.approx({key: expected[key] for key in compared}, abs=1e-6)
