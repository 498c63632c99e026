import torch
from allennlp.common.checks import ConfigurationError

from seal.modules.samplers.sampler import Sampler, Samples, SamplingContext


@Sampler.register("my-noisy-gold")
class NoisyGoldSampler(Sampler):
    """`num_samples` discrete outputs near the gold one: each gold decision is flipped (0 <-> 1)
    independently with probability `flip_probability`; padded factors are then zeroed with the
    output space's `mask_outputs`.  Meant for output spaces whose outputs are vectors of
    independent binary decisions (`multi-label`).

    Shapes: `context.labels` `(batch, *label_shape)` (0/1, any dtype) -> `Samples.y`
    `(batch, num_samples, *label_shape)` with entries in {0, 1}, in the default float dtype and
    without gradient; `Samples.log_q` is `None` (the samples are not drawn from the task-net, so
    losses needing `log q`, e.g. `nce-ranking`, cannot use them).  Randomness comes from torch's
    global generator (`pytorch_seed` in a config).

    # Parameters
    num_samples : `int`, optional (default = `5`)
    flip_probability : `float`, optional (default = `0.1`)
        In [0, 1]: 0 repeats the gold output, 1 gives its complement.
    """

    def __init__(self, num_samples: int = 5, flip_probability: float = 0.1) -> None:
        if num_samples < 1:
            raise ConfigurationError(f"my-noisy-gold: num_samples must be positive, got {num_samples}")
        if not 0.0 <= flip_probability <= 1.0:  # also rejects NaN
            raise ConfigurationError(
                f"my-noisy-gold: flip_probability must lie in [0, 1], got {flip_probability}"
            )
        self.num_samples = num_samples
        self.flip_probability = float(flip_probability)

    def __call__(self, context: SamplingContext) -> Samples:
        if context.labels is None:
            raise ConfigurationError(
                "the 'my-noisy-gold' sampler needs gold labels, which this batch does not have "
                "(it cannot be used for prediction, e.g. as a model's `inference`)"
            )
        with torch.no_grad():
            gold = context.labels.detach().to(torch.get_default_dtype()).unsqueeze(1)
            gold = gold.expand(-1, self.num_samples, *gold.shape[2:])
            flips = torch.bernoulli(torch.full_like(gold, self.flip_probability))
            y = (gold - flips).abs()  # XOR of two {0, 1} tensors
            y = context.output_space.mask_outputs(y, context.mask)
        return Samples(y, None)
