from seal.modules.samplers.basic import CropAverage, DiscreteSampler, GroundTruthSampler, MultiSampler, TaskNetSampler
from seal.modules.samplers.gradient_based_inference import GradientBasedInference
from seal.modules.samplers.sampler import Sampler, Samples, SamplingContext
