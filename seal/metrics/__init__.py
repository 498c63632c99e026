"""Metrics for structured prediction: label sets and tag sequences."""
from seal.metrics.multilabel import ExampleF1, HammingLoss, MultilabelMicroMacroF1, PrecisionAtK
from seal.metrics.ratio import RatioMetric
from seal.metrics.sequence import TokenAccuracy, WholeSequenceAccuracy
from seal.metrics.srl import SrlEvalF1

__all__ = [
    "ExampleF1",
    "HammingLoss",
    "MultilabelMicroMacroF1",
    "PrecisionAtK",
    "RatioMetric",
    "SrlEvalF1",
    "TokenAccuracy",
    "WholeSequenceAccuracy",
]
