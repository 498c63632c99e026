"""Metrics for structured prediction: label sets, tag sequences and binary masks."""
from seal.metrics.multilabel import ExampleF1, HammingLoss, MultilabelMicroMacroF1, PrecisionAtK
from seal.metrics.ratio import RatioMetric
from seal.metrics.segmentation import GlobalIoU, MeanIoU, PixelAccuracy
from seal.metrics.sequence import TokenAccuracy, WholeSequenceAccuracy
from seal.metrics.srl import SrlEvalF1

__all__ = [
    "ExampleF1",
    "GlobalIoU",
    "HammingLoss",
    "MeanIoU",
    "MultilabelMicroMacroF1",
    "PixelAccuracy",
    "PrecisionAtK",
    "RatioMetric",
    "SrlEvalF1",
    "TokenAccuracy",
    "WholeSequenceAccuracy",
]
