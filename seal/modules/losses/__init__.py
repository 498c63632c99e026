from seal.modules.losses.cd_loss import ContrastiveDivergenceLoss
from seal.modules.losses.crf_losses import (
    CRFMarginalCrossEntropyLoss,
    CRFMeanFieldCrossEntropyLoss,
    CRFStructuredHingeLoss,
)
from seal.modules.losses.loss import Loss, LossInputs
from seal.modules.losses.score_losses import DVNLoss, MarginLoss, NCERankingLoss
from seal.modules.losses.task_losses import CrossEntropyLoss, EnergyLoss, NegativeEntropyLoss, WeightedSumLoss
