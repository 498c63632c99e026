from seal.models.implicit import ImplicitEnergy
from seal.models.infnet_plus import InferenceNetworkPlus
from seal.models.seal_model import SealModel
from seal.models.variants import DVN, SPEN, CrossEntropyModel, InferenceNetwork, SealDynamic, SealStatic
