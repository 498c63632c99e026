"""Joint training of a cost-augmented and a test-time inference network with the energy
(Tu, Pang & Gimpel, 2020)."""
import copy
import re
from typing import Any, Dict, List, Optional, Set, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model

from seal.models.seal_model import SCORE_STEP, TASK_STEP, SealModel
from seal.models.variants import _require, energy_with_cross_entropy
from seal.modules.losses.loss import Loss, LossInputs
from seal.modules.losses.score_losses import MarginLoss
from seal.modules.losses.task_losses import EnergyLoss, WeightedSumLoss
from seal.modules.oracles.multilabel import F1Oracle
from seal.modules.oracles.oracle import OracleValue
from seal.modules.task_nets.task_nn import TaskNN, TaskOutput

COST_AUGMENTED_STEP = "cost_augmented_nn"


@Model.register("infnet-plus")
class InferenceNetworkPlus(SealModel):
    """InfNet+ (Tu, Pang & Gimpel, 2020, "Improving Joint Training of Inference Networks and
    Structured Prediction Energy Networks"): the energy, a cost-augmented inference network `A` and
    a test-time inference network `F` trained jointly, `A` and `F` sharing their feature network;
    `F` (the task-net) alone predicts.  (The paper writes `F_Phi` for the cost-augmented network
    and `A_Psi` for the test-time one; here `A` is the cost-augmented network, as in `infnet`.)

    The objective, per batch (means over its examples), with `s = -E` the score-net, `y` the gold
    output, `Delta = 1 - oracle` the task loss, `CE` the cross-entropy (`cross-entropy` loss),
    `lambda = perceptron_weight` and `tau = cross_entropy_weight`:

    - the energy (step `"score_nn"`) minimises the margin-rescaled hinge on `A`'s output plus
      `lambda` times the perceptron hinge on `F`'s:
      `mean [Delta(A(x), y) - s(x, y) + s(x, A(x))]_+ + lambda * mean [s(x, F(x)) - s(x, y)]_+`;
    - `A` (step `"cost_augmented_nn"`) maximises the first term without its truncation at 0,
      regularised by cross-entropy, i.e. minimises
      `-mean [Delta(A(x), y) + s(x, A(x))] + tau * CE(A(x), y)`;
    - `F` (step `"task_nn"`) maximises the second term without its truncation, regularised by
      cross-entropy, i.e. minimises `lambda * mean [-s(x, F(x))] + tau * CE(F(x), y)`.

    Without the truncation an inference network keeps its gradient on the examples whose hinge is
    already 0 (the paper drops it for the inference networks' updates); `s(x, y)` does not depend
    on them.  Each batch runs the three steps in that order (energy, `F`, `A`), each with its own
    optimizer (`trainer.optimizers` needs `score_nn`, `task_nn` and `cost_augmented_nn`); the
    trainer's `num_steps` sets more inference-network updates per energy update.  The validation
    loss is `F`'s.

    `A` is the module `cost_augmented_nn`: a copy of the task-net in which only the parameters
    matched by `cost_augmented_head` are `A`'s own (its output head; re-drawn by their modules'
    `reset_parameters` where a module's own parameters are all `A`'s, else copies of `F`'s initial
    values); every other parameter, and every module holding none of `A`'s own parameters, is the
    task-net's own object.  The shared feature network is therefore in both `task_nn` and
    `cost_augmented_nn`: both inference steps update it (each with its module's optimizer), the
    energy's step never does; `A`'s head changes only in `A`'s step and `F`'s only in `F`'s.

    # Parameters
    vocab : `Vocabulary`
    oracle : `OracleValue`, optional (default = `f1`)
        `Delta = 1 - oracle`, the cost of the hinge and of `A`'s objective.
    perceptron_weight : `float`, optional (default = `1.0`)
        `lambda`, the weight of the perceptron term (and of `F`'s energy); must be positive.
    cross_entropy_weight : `float`, optional (default = `1.0`)
        `tau`, of the cross-entropy of both inference networks; `0` drops it.
    guard : `bool`, optional (default = `False`)
        Guard the energy's gradient on each inference network's logits by cross-entropy's,
        example by example (`WeightedSumLoss` with `anchor`, as `infnet` and SEAL do): the part
        pointing against cross-entropy's gradient is removed and the rest capped at its norm.
        Needs `cross_entropy_weight > 0`.
    guard_epochs : `int`, optional (default = `None`, the whole run)
        With `guard`, guard only the first `guard_epochs` epochs.
    cost_augmented_head : `List[str]`, optional (default = the parameters of the task-net's last
        module, in `named_modules` order, that holds parameters itself: the output layer of the
        `feedforward`, `text-classifier` and `tagger` task-nets)
        Regexes, matched with `re.search` against the task-net's parameter names (e.g.
        `label_layer.weight`), of the parameters `A` has its own copy of; `[".*"]` gives `A` a
        network of its own, sharing nothing (the paper's separate parameterisation).
    **kwargs : as `SealModel` (`task_nn` and `score_nn` required); `score_nn_loss`,
        `task_nn_loss` and `inference` are set by the objective above and cannot be given.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        oracle: Optional[OracleValue] = None,
        perceptron_weight: float = 1.0,
        cross_entropy_weight: float = 1.0,
        guard: bool = False,
        guard_epochs: Optional[int] = None,
        cost_augmented_head: Optional[List[str]] = None,
        **kwargs,
    ) -> None:
        fixed = [name for name in ("score_nn_loss", "task_nn_loss", "inference") if kwargs.get(name) is not None]
        if fixed:
            raise ConfigurationError(f"infnet-plus sets {', '.join(fixed)} itself: set perceptron_weight, "
                                     f"cross_entropy_weight, oracle and guard instead")
        if perceptron_weight <= 0:
            raise ConfigurationError(f"infnet-plus needs perceptron_weight > 0, got {perceptron_weight}")
        if cross_entropy_weight < 0:
            raise ConfigurationError(f"infnet-plus needs cross_entropy_weight >= 0, got {cross_entropy_weight}")
        if guard and cross_entropy_weight <= 0:
            raise ConfigurationError("infnet-plus's guard is cross-entropy's gradient: set cross_entropy_weight > 0")
        if guard_epochs is not None and guard_epochs < 1:
            raise ConfigurationError(f"infnet-plus needs guard_epochs >= 1 (or null, every epoch), got {guard_epochs}")
        oracle = oracle or F1Oracle()

        def inference_loss(energy: EnergyLoss, energy_weight: float) -> WeightedSumLoss:
            return energy_with_cross_entropy(energy, energy_weight, cross_entropy_weight, guard, guard_epochs)

        super().__init__(
            vocab,
            score_nn_loss=MarginLoss(oracle=oracle),
            task_nn_loss=inference_loss(EnergyLoss(), perceptron_weight),
            **kwargs,
        )
        _require(self, task_nn=self.task_nn, score_nn=self.score_nn)
        self.perceptron_weight = perceptron_weight
        self.perceptron_loss = MarginLoss(perceptron=True)
        self.cost_augmented_loss = inference_loss(EnergyLoss(cost_augmented=oracle), 1.0)
        self.cost_augmented_nn = cost_augmented_network(self.task_nn, cost_augmented_head)

    # ---- steps ----------------------------------------------------------------------------
    def step_names(self) -> Tuple[str, ...]:
        return (SCORE_STEP, TASK_STEP, COST_AUGMENTED_STEP)

    def step_loss(self, step: str) -> Optional[Loss]:
        """The loss of `step`; for `"score_nn"` its margin-rescaled term (on `A`'s output), to which
        the step adds `perceptron_weight` times `perceptron_loss` (on `F`'s)."""
        if step == COST_AUGMENTED_STEP:
            return self.cost_augmented_loss
        return super().step_loss(step)

    def active_steps(self, epoch: int) -> List[str]:
        """The energy's step, `F`'s, then `A`'s (each while its module has trainable parameters)."""
        steps = super().active_steps(epoch)
        if any(p.requires_grad for p in self.cost_augmented_nn.parameters()):
            steps.append(COST_AUGMENTED_STEP)
        return steps

    def _step_loss(
        self, step: str, inputs: Dict[str, Any], labels: torch.Tensor
    ) -> Tuple[torch.Tensor, Optional[TaskOutput], LossInputs]:
        if step == SCORE_STEP:
            return self._energy_step_loss(inputs, labels)
        if step == COST_AUGMENTED_STEP:
            return self._cost_augmented_step_loss(inputs, labels)
        return super()._step_loss(step, inputs, labels)

    def _energy_step_loss(
        self, inputs: Dict[str, Any], labels: torch.Tensor
    ) -> Tuple[torch.Tensor, TaskOutput, LossInputs]:
        """The hinge on `A`'s output plus `perceptron_weight` times the perceptron hinge on `F`'s,
        both outputs detached, the score-net bound once.  Inside `training_batch`, `F`'s output
        (computed with gradient) is kept for `F`'s step, which follows."""
        test_time = self._step_task_output(SCORE_STEP, inputs, labels)
        cost_augmented = self._run_cost_augmented_nn(inputs, with_grad=False)
        score = self.score_nn.bind(inputs)
        margin_inputs = self._context(LossInputs, inputs, cost_augmented, labels, True, score)
        perceptron_inputs = self._context(LossInputs, inputs, test_time, labels, True, score)
        loss = self.score_nn_loss(margin_inputs) + self.perceptron_weight * self.perceptron_loss(perceptron_inputs)
        return loss, test_time, perceptron_inputs

    def _cost_augmented_step_loss(
        self, inputs: Dict[str, Any], labels: torch.Tensor
    ) -> Tuple[torch.Tensor, TaskOutput, LossInputs]:
        """`A`'s loss (with its `penalty`, as the task-net step has the task-net's).  This step
        changes the shared feature network, so a task-net output kept for the batch is dropped."""
        if self._batch_task_output is not None:
            self._batch_task_output.clear()
        output = self._run_cost_augmented_nn(inputs, with_grad=True)
        loss, loss_inputs = self._loss_of(COST_AUGMENTED_STEP, inputs, output, labels)
        penalty = self.cost_augmented_nn.penalty(output)
        if penalty is not None:
            loss = loss + penalty
        return loss, output, loss_inputs

    def _run_cost_augmented_nn(self, inputs: Dict[str, Any], with_grad: bool) -> TaskOutput:
        with torch.set_grad_enabled(with_grad and torch.is_grad_enabled()):
            return self.cost_augmented_nn(**inputs)


def head_parameters(task_nn: TaskNN, patterns: Optional[List[str]]) -> Set[str]:
    """The names of the task-net's parameters that a regex of `patterns` matches (`re.search`), or
    with `None` those of its last module (in `named_modules` order) that holds parameters itself."""
    names = [name for name, _ in task_nn.named_parameters()]
    if patterns is not None:
        head = {name for name in names if any(re.search(pattern, name) for pattern in patterns)}
        if not head:
            raise ConfigurationError(f"infnet-plus: cost_augmented_head {patterns} matches no parameter of the "
                                     f"task_nn, whose parameters are {names}")
        return head
    owners = [(prefix, module) for prefix, module in task_nn.named_modules()
              if next(module.parameters(recurse=False), None) is not None]
    if not owners:
        raise ConfigurationError("infnet-plus needs a task_nn with parameters")
    prefix, module = owners[-1]
    return {f"{prefix}.{name}" if prefix else name for name, _ in module.named_parameters(recurse=False)}


def cost_augmented_network(task_nn: TaskNN, head_patterns: Optional[List[str]]) -> TaskNN:
    """A copy of `task_nn` whose head parameters (`head_parameters`) are its own and whose other
    parameters, and modules without head parameters, are `task_nn`'s own objects (shared).  A
    module all of whose own parameters are head parameters is re-initialised by its
    `reset_parameters`, if it has one."""
    head = head_parameters(task_nn, head_patterns)
    memo: Dict[int, Any] = {}
    for prefix, module in task_nn.named_modules():
        names = {f"{prefix}.{name}" if prefix else name for name, _ in module.named_parameters()}
        if not names & head:
            memo[id(module)] = module
    for name, parameter in task_nn.named_parameters():
        if name not in head:
            memo[id(parameter)] = parameter
    copied = copy.deepcopy(task_nn, memo)
    for prefix, module in copied.named_modules():
        own = {f"{prefix}.{name}" if prefix else name for name, _ in module.named_parameters(recurse=False)}
        if own and own <= head and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return copied
