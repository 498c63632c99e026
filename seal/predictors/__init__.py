from seal.predictors.seal import SealPredictor
from seal.predictors.srl import SealSrlPredictor
