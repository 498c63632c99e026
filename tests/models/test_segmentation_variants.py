"""Every registered method on binary masks, through the one generic model: a U-Net task-net, a
loss-net of a U-Net's per-pixel score and the convolutional mask score, IoU oracles."""
import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model

from seal.modules.losses import DVNLoss, MarginLoss
from seal.modules.oracles import SoftIoUOracle

BATCH, HEIGHT, WIDTH = 3, 7, 6


def unet():
    return {"type": "unet", "channels": 3, "depth": 1, "features": "image+decoder"}


def score_nn():
    return {"task_nn": unet(), "global_score": {"type": "mask-conv", "feature_dim": 6, "channels": [4, 4],
                                                "kernel_size": 3, "hidden_dims": [8]}}


def soft_iou():
    return {"type": "soft-iou"}  # Params pops dicts in place: a fresh one each time


CONFIGS = {
    "seal-dynamic": lambda: {"type": "seal-dynamic", "task_nn": unet(), "score_nn": score_nn()},
    "seal-dynamic-dvn": lambda: {"type": "seal-dynamic", "task_nn": unet(), "score_nn": score_nn(),
                                 "score_nn_loss": {"type": "dvn", "oracle": soft_iou()}},
    "seal-static": lambda: {"type": "seal-static", "task_nn": unet(), "score_nn": score_nn(), "pretraining_epochs": 1},
    "cross-entropy": lambda: {"type": "cross-entropy", "task_nn": unet()},
    "spen": lambda: {"type": "spen", "score_nn": score_nn(), "oracle": soft_iou()},
    "dvn": lambda: {"type": "dvn", "score_nn": score_nn(), "oracle": soft_iou()},
    # DVN's test-time crop averaging: gradient-based inference on 4x4 windows of the 7x6 images
    "dvn-crop-average": lambda: {"type": "dvn", "score_nn": score_nn(), "oracle": soft_iou(), "inference": {
        "type": "crop-average", "crop_size": [4, 4], "stride": 2,
        "sampler": {"type": "gradient-based-inference", "num_steps": 3}}},
    "infnet": lambda: {"type": "infnet", "task_nn": unet(), "score_nn": score_nn(), "game_epochs": 1,
                       "oracle": soft_iou()},
}


def build(name: str) -> Model:
    torch.manual_seed(0)
    config = {**CONFIGS[name](), "output_space": {"type": "binary-mask"}}
    return Model.from_params(vocab=Vocabulary(), params=Params(config))


def batch():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(BATCH, 3, HEIGHT, WIDTH, generator=generator)
    labels = (torch.rand(BATCH, HEIGHT, WIDTH, generator=generator) < 0.4).long()
    labels[0] = 0  # an image without foreground
    return image, labels


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_step_trains_and_prediction_reports_iou(name):
    model = build(name)
    image, labels = batch()
    model.train()
    steps = model.active_steps(0)
    assert steps
    for step in steps:
        loss = model(image=image, labels=labels, seal_step=step)["loss"]
        assert loss.dim() == 0 and torch.isfinite(loss)
        loss.backward()
        module = getattr(model, step)
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
    model.eval()
    output = model(image=image, labels=labels)
    probabilities = output["probabilities"]
    assert probabilities.shape == (BATCH, HEIGHT, WIDTH) and "mask" not in output
    assert probabilities.min() >= 0 and probabilities.max() <= 1 and torch.isfinite(output["loss"])
    metrics = model.get_metrics(reset=True)
    assert set(metrics) >= {"mean_iou", "global_iou", "pixel_accuracy"}
    assert all(0.0 <= metrics[key] <= 1.0 for key in ("mean_iou", "global_iou", "pixel_accuracy"))
    readable = model.make_output_human_readable(model(image=image))
    masks = torch.tensor(readable["predicted_mask"])
    assert masks.shape == (BATCH, HEIGHT, WIDTH)
    assert torch.equal(masks, (readable["probabilities"] >= 0.5).long())


def test_cross_entropy_is_the_mean_per_pixel_binary_cross_entropy():
    model = build("cross-entropy")
    image, labels = batch()
    loss = model(image=image, labels=labels, seal_step="task_nn")["loss"]
    logits = model.task_nn(image=image).logits
    torch.testing.assert_close(loss, torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.float()))


@pytest.mark.parametrize("name,loss_class", [("dvn", DVNLoss), ("spen", MarginLoss)])
def test_the_oracle_of_dvn_and_spen_sets_their_default_loss(name, loss_class):
    model = build(name)
    assert isinstance(model.score_nn_loss, loss_class) and isinstance(model.score_nn_loss.oracle, SoftIoUOracle)
    if name == "spen":  # and the cost of its loss-augmented inference
        assert isinstance(model.score_nn_loss.sampler.cost_augmented, SoftIoUOracle)
    config = {**CONFIGS[name](), "output_space": {"type": "binary-mask"}, "score_nn_loss": {"type": "dvn"}}
    with pytest.raises(ConfigurationError, match="give the oracle inside it"):
        Model.from_params(vocab=Vocabulary(), params=Params(config))


def test_a_label_set_oracle_on_masks_is_an_error():
    config = {**CONFIGS["dvn"](), "output_space": {"type": "binary-mask"}}
    del config["oracle"]  # the default, f1, scores label sets
    model = Model.from_params(vocab=Vocabulary(), params=Params(config))
    image, labels = batch()
    with pytest.raises(ConfigurationError, match="label sets"):
        model(image=image, labels=labels, seal_step="score_nn")
