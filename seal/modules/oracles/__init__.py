from seal.modules.oracles.oracle import OracleValue
from seal.modules.oracles.multilabel import F1Oracle, HammingOracle
