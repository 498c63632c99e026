import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.training.metrics import Metric

from seal.metrics import GlobalIoU, MeanIoU, PixelAccuracy

# Three 2x3 images, predictions as probabilities (>= 0.5 is foreground).
PREDICTIONS = torch.tensor(
    [
        [[0.9, 0.8, 0.1], [0.2, 0.6, 0.0]],  # P = {(0,0), (0,1), (1,1)}
        [[0.1, 0.2, 0.3], [0.4, 0.1, 0.0]],  # P = {}
        [[0.5, 0.1, 0.1], [0.1, 0.1, 0.1]],  # P = {(0,0)} (0.5 counts)
    ]
)
GOLD = torch.tensor(
    [
        [[1, 0, 0], [1, 1, 0]],  # G = {(0,0), (1,0), (1,1)}: I = 2, U = 4
        [[0, 0, 0], [0, 0, 0]],  # empty / empty: IoU 1
        [[0, 0, 1], [0, 0, 0]],  # I = 0, U = 2
    ]
)
# mean IoU = (2/4 + 1 + 0) / 3; global IoU = (2 + 0 + 0) / (4 + 0 + 2); accuracy = (4 + 6 + 4) / 18
MEAN_IOU, GLOBAL_IOU, PIXEL_ACCURACY = 1.5 / 3, 2 / 6, 14 / 18


def value(metric, predictions=PREDICTIONS, gold=GOLD, mask=None):
    metric(predictions, gold, mask)
    return metric.get_metric(reset=True)


def test_registered():
    assert Metric.by_name("mean-iou") is MeanIoU
    assert Metric.by_name("global-iou") is GlobalIoU
    assert Metric.by_name("pixel-accuracy") is PixelAccuracy
    assert isinstance(Metric.from_params(Params({"type": "mean-iou", "threshold": 0.7})), MeanIoU)


def test_hand_computed_values():
    assert value(MeanIoU()) == pytest.approx(MEAN_IOU)
    assert value(GlobalIoU()) == pytest.approx(GLOBAL_IOU)
    assert value(PixelAccuracy()) == pytest.approx(PIXEL_ACCURACY)


def test_hard_masks_give_the_same_values():
    hard = (PREDICTIONS >= 0.5).long()
    assert value(MeanIoU(), hard) == pytest.approx(MEAN_IOU)
    assert value(GlobalIoU(), hard) == pytest.approx(GLOBAL_IOU)


def test_accumulates_over_calls_per_image():
    """Mean IoU averages over images, not over calls; global IoU pools the pixels of all calls."""
    mean_iou, global_iou = MeanIoU(), GlobalIoU()
    for metric in (mean_iou, global_iou):
        metric(PREDICTIONS[:1], GOLD[:1])
        metric(PREDICTIONS[1:], GOLD[1:])
    assert mean_iou.get_metric() == pytest.approx(MEAN_IOU)
    assert global_iou.get_metric(reset=True) == pytest.approx(GLOBAL_IOU)
    assert global_iou.get_metric() == 0.0  # nothing seen since the reset


def test_empty_gold_and_prediction_count_as_one():
    empty = torch.zeros(2, 3, 3)
    assert value(MeanIoU(), empty, empty.long()) == 1.0
    assert value(GlobalIoU(), empty, empty.long()) == 1.0
    assert value(PixelAccuracy(), empty, empty.long()) == 1.0
    assert MeanIoU().get_metric() == 0.0  # nothing seen


def test_foreground_on_empty_gold_counts_zero():
    predictions = torch.zeros(1, 2, 2)
    predictions[0, 0, 0] = 1.0
    assert value(MeanIoU(), predictions, torch.zeros(1, 2, 2)) == 0.0


def test_threshold():
    # at 0.85 only (0,0) of image 0 is foreground: I = 1, U = 3; image 2 becomes empty (U = 1, I = 0)
    assert value(MeanIoU(threshold=0.85)) == pytest.approx((1 / 3 + 1 + 0) / 3)


def test_pixel_mask_excludes_pixels():
    mask = torch.ones_like(GOLD, dtype=torch.bool)
    mask[:, 1, 0] = False  # image 0 loses a gold pixel it missed
    # image 0: I = 2, U = 3; image 1: empty/empty; image 2: I = 0
    assert value(MeanIoU(), mask=mask) == pytest.approx((2 / 3 + 1 + 0) / 3)
    # correct of the 5 pixels left: image 0 4, image 1 5, image 2 3
    assert value(PixelAccuracy(), mask=mask) == pytest.approx(12 / 15)


def test_shapes_are_checked():
    with pytest.raises(ConfigurationError, match="height, width"):
        MeanIoU()(torch.zeros(2, 4), torch.zeros(2, 4))
    with pytest.raises(ConfigurationError, match="height, width"):
        PixelAccuracy()(torch.zeros(2, 3, 3), torch.zeros(2, 3, 4))
    with pytest.raises(ConfigurationError, match="mask"):
        GlobalIoU()(torch.zeros(2, 3, 3), torch.zeros(2, 3, 3), torch.ones(2, 3, dtype=torch.bool))
