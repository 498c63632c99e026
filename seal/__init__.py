"""seal: energy-based structured prediction (SEAL, SPEN, DVN, inference networks) for AllenNLP.

Importing `seal` registers all of its components; `--include-package seal` does the same for the
`allennlp` command.  It also makes a training run lock its serialization directory
(`seal.commands.serialization_lock`).
"""
__version__ = "0.1.0"

from seal import commands, data, evaluation, metrics, models, modules, predictors, training  # noqa: E402,F401
