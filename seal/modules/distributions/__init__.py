from seal.modules.distributions.distribution import OutputDistribution
from seal.modules.distributions.factorised import Bernoulli, Categorical
from seal.modules.distributions.linear_chain_crf import LinearChainCRF, allowed_moves
