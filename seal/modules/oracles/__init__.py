from seal.modules.oracles.multilabel import F1Oracle, HammingOracle
from seal.modules.oracles.oracle import OracleValue
from seal.modules.oracles.segmentation import HardIoUOracle, SoftIoUOracle
from seal.modules.oracles.sequence import SpanF1Oracle, TokenAccuracyOracle
