"""Metrics for multi-label structured prediction."""
from seal.metrics.multilabel import ExampleF1, HammingLoss, MultilabelMicroMacroF1, PrecisionAtK

__all__ = ["ExampleF1", "HammingLoss", "MultilabelMicroMacroF1", "PrecisionAtK"]
