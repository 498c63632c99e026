from seal.modules.structured_scores.combined import SumScore
from seal.modules.structured_scores.multilabel import LabelMLPScore, LabelPairwiseScore
from seal.modules.structured_scores.segmentation import MaskConvScore
from seal.modules.structured_scores.sequence import (
    LinearChainScore,
    SelfAttentionSequenceScore,
    SkipChainScore,
)
from seal.modules.structured_scores.structured_score import StructuredScore
