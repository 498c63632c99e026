"""SEAL-dynamic does not collapse to a constant prediction where it used to (issue #38).

Scene with the shipped SSVM config, seed 3: before the cross-entropy guard of the task-net loss
(`weighted-sum` with `anchor`), the task-net's output stayed the same for every example and early
stopping kept such an epoch (test example-F1 0.27); with the guard the run learns.  Both runs are
capped at 20 epochs with the config's own early stopping, and judged by the model they keep: how
many different label sets it predicts on the dev set.  (Seed 1 was the case until a batch's
training steps shared one task-net forward, issue #42, which changed its trajectory; seed 3's
unguarded run collapses with either code.)
"""
import pytest
import torch
from allennlp.data.data_loaders import SimpleDataLoader

import seal  # noqa: F401  (registers the components)
from tests.util import REPO_ROOT, train_in_process

CONFIG = REPO_ROOT / "training_configs" / "multilabel" / "scene_seal_dynamic_ssvm.jsonnet"
SEED = 3


def kept_model(tmp_path, guarded: bool):
    overrides = {"random_seed": SEED, "numpy_seed": SEED, "pytorch_seed": SEED, "trainer.num_epochs": 20,
                 "trainer.callbacks": []}
    if not guarded:
        overrides["model.task_nn_loss.anchor"] = None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train_in_process(CONFIG, tmp_path / ("guarded" if guarded else "unguarded"), overrides)
    finally:
        torch.set_num_threads(threads)


def distinct_dev_predictions(model) -> int:
    from allennlp.common import Params
    from allennlp.data import DatasetReader

    from tests.util import repo_root_cwd

    config = Params.from_file(str(CONFIG))
    reader = DatasetReader.from_params(config.pop("dataset_reader"))
    with repo_root_cwd():
        instances = list(reader.read(config.pop("validation_data_path")))
    model.eval()
    predicted = set()
    with torch.no_grad():
        for batch in SimpleDataLoader(instances, 512, vocab=model.vocab):
            batch.pop(model.label_field)
            predicted.update(tuple(row) for row in (model(**batch)["probabilities"] >= 0.5).int().tolist())
    return len(predicted)


@pytest.mark.parametrize("guarded", [False, True], ids=["without-guard", "with-guard"])
def test_the_guard_keeps_scene_ssvm_seed_3_from_collapsing(tmp_path, guarded):
    distinct = distinct_dev_predictions(kept_model(tmp_path, guarded))
    if guarded:
        assert distinct > 1
    else:
        assert distinct == 1, "the unguarded run no longer collapses: find another collapsing case for this test"
