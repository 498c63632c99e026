"""A user package that extends seal with its own registered components.

Importing it registers them, exactly as `--include-package examples.my_seal_extension` does for
the `allennlp` command:

- `Sampler` "my-noisy-gold": `NoisyGoldSampler`, the gold output with random label flips;
- `StructuredScore` "my-label-count": `LabelCountScore`, a learned score of the number of labels.
"""
from examples.my_seal_extension.label_count_score import LabelCountScore
from examples.my_seal_extension.noisy_gold_sampler import NoisyGoldSampler

__all__ = ["LabelCountScore", "NoisyGoldSampler"]
