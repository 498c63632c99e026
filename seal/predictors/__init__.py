from seal.predictors.seal import SealPredictor
