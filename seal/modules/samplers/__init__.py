from seal.modules.samplers.sampler import Sampler, SamplingContext, Samples
from seal.modules.samplers.basic import DiscreteSampler, GroundTruthSampler, MultiSampler, TaskNetSampler
from seal.modules.samplers.gradient_based_inference import GradientBasedInference
