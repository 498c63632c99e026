"""Training regimes as phases of trainable parameters: which of a model's parameters the `seal`
trainer updates in which epochs (stage training of a CRF: the unary first, then the pairwise with
the unary fixed, then optionally both)."""
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

PHASE_KEYS = {"epochs", "trainable", "frozen"}


class Phase:
    """One phase: `epochs` (`None`: until the end of training) and the set of parameter names
    trained in it."""

    def __init__(self, index: int, epochs: Optional[int], trained: Sequence[str]) -> None:
        self.index = index
        self.epochs = epochs
        self.trained = frozenset(trained)


class ParameterPhases:
    """The `parameter_phases` option of the `seal` trainer: a list of phases run one after another,

        {"epochs": N, "trainable": [regex, ...]}   only the parameters a regex matches are trained
        {"epochs": N, "frozen": [regex, ...]}      every parameter but those a regex matches is trained

    (exactly one of `trainable` and `frozen`).  Every phase but the last needs `epochs` (>= 1); the
    last may omit it and then lasts until the end of training; if every phase gives `epochs`, they
    must cover the trainer's `num_epochs`.  Regexes are matched with `re.search` against the names of
    `model.named_parameters()` (`task_nn.unary.encoder...`, `task_nn.transitions`,
    `score_nn.global_score...`), as AllenNLP's initializer and `parameter_groups` regexes are; each
    must match at least one of the model's trainable parameters, and `trainable` may not be empty
    (`frozen: []` is a phase that trains everything: joint training).

    Only the parameters trainable when the trainer is built (`requires_grad`) take part: the
    optimizers are built with all of them, and a phase sets `requires_grad = False` on the ones it
    does not train, so that their gradient stays `None` and their optimizer (momentum, AdamW's weight
    decay) leaves them and their state untouched; a parameter frozen in the configuration (e.g. a
    frozen transformer) stays frozen in every phase.  A module none of whose parameters is trained in
    a phase has no step in it (`SealModel.active_steps`).

    The phase of an epoch follows from the epoch number alone, so a run resumed with `--recover`
    trains each epoch in the phase the uninterrupted run did.
    """

    def __init__(
        self,
        phases: List[Dict[str, Any]],
        named_parameters: List[Tuple[str, torch.nn.Parameter]],
        num_epochs: int,
    ) -> None:
        if not phases:
            raise ConfigurationError("trainer.parameter_phases: give at least one phase, or leave it out")
        self.parameters = [(name, parameter) for name, parameter in named_parameters if parameter.requires_grad]
        names = [name for name, _ in self.parameters]
        self.phases: List[Phase] = []
        for index, spec in enumerate(phases):
            self.phases.append(self._parse(index, spec, names, last=index == len(phases) - 1))
        covered = sum(phase.epochs for phase in self.phases if phase.epochs is not None)
        if self.phases[-1].epochs is not None and covered < num_epochs:
            raise ConfigurationError(
                f"trainer.parameter_phases cover {covered} epochs but the trainer runs {num_epochs}: "
                "give more epochs, or leave out the last phase's `epochs` (it then lasts until the end)"
            )

    @staticmethod
    def _parse(index: int, spec: Dict[str, Any], names: List[str], last: bool) -> Phase:
        where = f"trainer.parameter_phases[{index}]"
        if isinstance(spec, Params):
            spec = spec.as_dict(quiet=True)
        if not isinstance(spec, dict):
            raise ConfigurationError(f"{where} must be an object with `epochs` and `trainable` or `frozen`")
        unknown = set(spec) - PHASE_KEYS
        if unknown:
            raise ConfigurationError(f"{where}: unknown keys {sorted(unknown)}; a phase has {sorted(PHASE_KEYS)}")
        epochs = spec.get("epochs")
        if epochs is None and not last:
            raise ConfigurationError(f"{where}: only the last phase may omit `epochs`")
        if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
            raise ConfigurationError(f"{where}: `epochs` must be a positive integer, got {epochs!r}")
        if ("trainable" in spec) == ("frozen" in spec):
            raise ConfigurationError(f"{where}: give exactly one of `trainable` and `frozen`")
        key = "trainable" if "trainable" in spec else "frozen"
        regexes = spec[key]
        if isinstance(regexes, str) or not isinstance(regexes, (list, tuple)):
            raise ConfigurationError(f"{where}.{key} must be a list of regexes, got {regexes!r}")
        if key == "trainable" and not regexes:
            raise ConfigurationError(f"{where}.trainable is empty: the phase would train nothing")
        matched = set()
        for regex in regexes:
            try:
                pattern = re.compile(regex)
            except (re.error, TypeError) as error:
                raise ConfigurationError(f"{where}.{key}: {regex!r} is not a regex ({error})") from error
            hits = {name for name in names if pattern.search(name)}
            if not hits:
                shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
                raise ConfigurationError(
                    f"{where}.{key}: {regex!r} matches none of the model's trainable parameters ({shown})"
                )
            matched |= hits
        trained = matched if key == "trainable" else set(names) - matched
        return Phase(index, epochs, [name for name in names if name in trained])

    def phase_of(self, epoch: int) -> Phase:
        """The phase that epoch `epoch` (0-based) is trained in."""
        end = 0
        for phase in self.phases:
            if phase.epochs is None:
                return phase
            end += phase.epochs
            if epoch < end:
                return phase
        return self.phases[-1]

    def apply(self, epoch: int) -> Phase:
        """Sets `requires_grad` of every participating parameter for epoch `epoch`; returns its phase."""
        phase = self.phase_of(epoch)
        for name, parameter in self.parameters:
            parameter.requires_grad_(name in phase.trained)
        return phase

    def frozen(self) -> List[torch.nn.Parameter]:
        """The participating parameters frozen at present."""
        return [parameter for _, parameter in self.parameters if not parameter.requires_grad]

    def release(self) -> None:
        """Makes every participating parameter trainable again (as it was before the phases)."""
        for _, parameter in self.parameters:
            parameter.requires_grad_(True)
