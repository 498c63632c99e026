from seal.predictors.seal import SealPredictor
from seal.predictors.segmentation import SealSegmentationPredictor
from seal.predictors.srl import SealSrlPredictor
