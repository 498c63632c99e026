import contextlib
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.nn import InitializerApplicator, RegularizerApplicator

from seal.modules.losses.loss import Loss, LossInputs
from seal.modules.output_spaces.output_space import OutputSpace
from seal.modules.samplers.sampler import Sampler, SamplingContext
from seal.modules.score_nets.score_nn import BoundScore, ScoreNN
from seal.modules.task_nets.task_nn import TaskNN, TaskOutput

SCORE_STEP = "score_nn"
TASK_STEP = "task_nn"


class SealModel(Model):
    """One model for every energy-based method: a task-net, a score-net (loss-net), the loss each
    is trained with, and the predictor used at test time.  The registered variants (`seal-dynamic`,
    `seal-static`, `cross-entropy`, `spen`, `dvn`, `infnet`) differ only in which pieces they require
    and in their defaults.

    Training is split into named steps, one per trained module (`"score_nn"`, `"task_nn"`): the
    trainer calls `forward(**batch, seal_step=name)` and minimises the returned `"loss"` with the
    optimizer of that module.  A step is named after the module (attribute of the model) whose
    optimizer it steps; a subclass may define more steps (`step_names`; `infnet-plus` adds
    `"cost_augmented_nn"`), each with its loss (`step_loss`) and module.  The trainer runs the
    steps of one batch inside `training_batch()`, where the task-net runs once for all of them
    (see there).  Without `seal_step`, `forward` predicts: the task-net's relaxed output, or the
    `inference` sampler's (gradient-based inference for SPEN and DVN); it updates the output
    space's metrics and returns the validation loss when labels are given.

    Inputs: every field of an instance except the gold labels and `metadata` is passed by name to
    the task-net and the score-net's feature network.  The gold labels are the field named
    `label_field`, in the form the output space's `encode_labels` expects (`(batch, num_labels)`
    0/1 for label sets, tag indices `(batch, seq_len)` for tag sequences).  The task-net's output is
    read as the distribution over outputs the output space makes of it (`OutputSpace.distribution`:
    independent decisions, or a CRF), so any task-net works with every method.  Output dict:
    `probabilities` `(batch, *label_shape)` relaxed predictions in [0, 1] (the distribution's
    marginals, or the inference sampler's output), `predictions` the discrete prediction of a
    structured distribution (a CRF's Viterbi sequence, which metrics and output then report),
    `mask` where the space has one, `loss` when labels are given.

    The task-net's hooks (`TaskNN`): the task-net step's loss includes the task-net's `penalty` of
    its output (a CRF's norm-ratio regulariser), and `get_metrics` reports the task-net's own
    metrics beside the output space's.  `step_objective(batch)` is a training step's loss without
    the metric updates of `forward`.

    # Parameters
    vocab : `Vocabulary`
    output_space : `OutputSpace`, optional (default = `multi-label`)
    task_nn : `TaskNN`, optional
    score_nn : `ScoreNN`, optional
    score_nn_loss : `Loss`, optional
        Objective of the score-net step; `None` for models whose score-net is not trained here.
    task_nn_loss : `Loss`, optional
        Objective of the task-net step.
    inference : `Sampler`, optional
        Test-time predictor; `None` means the task-net's output.
    label_field : `str`, optional (default = `"labels"`)
        The instance field holding the gold output (`"tags"` for AllenNLP's `conll2003` reader).
    initializer, regularizer : as in AllenNLP models.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        output_space: Optional[OutputSpace] = None,
        task_nn: Optional[TaskNN] = None,
        score_nn: Optional[ScoreNN] = None,
        score_nn_loss: Optional[Loss] = None,
        task_nn_loss: Optional[Loss] = None,
        inference: Optional[Sampler] = None,
        label_field: str = "labels",
        initializer: Optional[InitializerApplicator] = None,
        regularizer: Optional[RegularizerApplicator] = None,
        **kwargs,
    ) -> None:
        super().__init__(vocab, regularizer, **kwargs)
        self.output_space = output_space or OutputSpace.by_name(OutputSpace.default_implementation)()
        self.task_nn = task_nn
        self.score_nn = score_nn
        self.score_nn_loss = score_nn_loss
        self.task_nn_loss = task_nn_loss
        self.inference = inference
        self.label_field = label_field
        # The task-net's output shared by the steps of the current training batch (`training_batch`).
        self._batch_task_output: Optional[Dict[str, Any]] = None
        self._check_pieces()
        self.output_space.index_labels(vocab)
        self._metrics = self.output_space.default_metrics(vocab)
        # The epoch the trainer last announced; saved with the weights, so that a model loaded from
        # an archive is in the training phase it was in when those weights were saved.
        self.register_buffer("_epoch", torch.zeros((), dtype=torch.long))
        (initializer or InitializerApplicator())(self)

    def _check_pieces(self) -> None:
        if self.task_nn is None and self.inference is None:
            raise ConfigurationError(f"{self._name()} needs a task_nn or an inference sampler to predict")
        if self.task_nn_loss is not None and self.task_nn is None:
            raise ConfigurationError(f"{self._name()} has a task_nn_loss but no task_nn")
        if self.score_nn_loss is not None and self.score_nn is None:
            raise ConfigurationError(f"{self._name()} has a score_nn_loss but no score_nn")

    def _name(self) -> str:
        return f"model {type(self).__name__}"

    # ---- training steps -------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        """The current training epoch (0-based), as last set by `active_steps`."""
        return int(self._epoch)

    @property
    def phase_epoch(self) -> int:
        """The current epoch counted from the start of the current training phase (one phase here)."""
        return self.epoch

    def active_steps(self, epoch: int) -> List[str]:
        """Records `epoch` (0-based) as the current one and returns the steps the trainer runs in
        it, in order: a step runs when it has a loss and its module has trainable parameters."""
        self._epoch.fill_(epoch)
        steps = []
        for step, loss in ((SCORE_STEP, self.score_nn_loss), (TASK_STEP, self.task_nn_loss)):
            module = getattr(self, step)
            if loss is not None and any(p.requires_grad for p in module.parameters()):
                steps.append(step)
        return steps

    def step_names(self) -> Tuple[str, ...]:
        """Every training step the model defines, each the name of the module (an attribute of the
        model) that it trains: the trainer steps the optimizer of that name after it."""
        return (SCORE_STEP, TASK_STEP)

    def step_loss(self, step: str) -> Optional[Loss]:
        return {SCORE_STEP: self.score_nn_loss, TASK_STEP: self.task_nn_loss}[step]

    @contextlib.contextmanager
    def training_batch(self) -> Iterator[None]:
        """Runs the training steps of one batch (the `seal` trainer enters it for each batch) with
        one task-net forward between them.  The task-net's parameters change only in the task-net
        step, so its output on the batch, computed with gradient at the first step, serves every
        score-net step before it (detached: a score-net loss sends the task-net no gradient) and
        that task-net step (with its graph, which the score-net steps leave intact); the task-net
        step drops it, so a later step (a second task-net step) runs the task-net anew.  One
        forward also means one dropout draw of the task-net for all of the batch's steps.

        The output is kept for the batch whose gold labels are the tensor of the first step; a step
        with other labels runs the task-net anew.  Leaving the context drops it.  Outside the
        context (validation, prediction, a step called on its own) every call runs the task-net;
        a model without a task-net keeps nothing."""
        self._batch_task_output = {}
        try:
            yield
        finally:
            self._batch_task_output = None

    def forward(  # type: ignore[override]
        self,
        metadata: Optional[List[Dict[str, Any]]] = None,
        seal_step: Optional[str] = None,
        **inputs,
    ) -> Dict[str, torch.Tensor]:
        labels = inputs.pop(self.label_field, None)
        if seal_step is None:
            if self.training and labels is not None and torch.is_grad_enabled():
                raise ConfigurationError(
                    "seal models are trained one module at a time by the 'seal' trainer: "
                    "set \"trainer\": {\"type\": \"seal\", ...} in the configuration"
                )
            output = self._predict(inputs, labels)
            if metadata and all("words" in item for item in metadata):  # text inputs: echo the words
                output["words"] = [item["words"] for item in metadata]
            return output
        if labels is None:
            raise ConfigurationError(f"training step {seal_step!r} needs labels in the batch")
        if seal_step not in self.step_names():
            raise ConfigurationError(
                f"unknown training step {seal_step!r}: use one of {', '.join(map(repr, self.step_names()))}"
            )
        loss, task_output, loss_inputs = self._step_loss(seal_step, inputs, labels)
        if seal_step == TASK_STEP and task_output is not None:  # training metrics
            probabilities, predictions = self._read(task_output.with_potentials(torch.Tensor.detach))
            self._update_metrics(probabilities, loss_inputs.labels, task_output.mask, predictions)
        return {"loss": loss}

    def _step_loss(
        self, step: str, inputs: Dict[str, Any], labels: torch.Tensor
    ) -> Tuple[torch.Tensor, Optional[TaskOutput], LossInputs]:
        """The loss of training step `step` on the batch; the task-net step's includes the
        task-net's `penalty` of its output (see `TaskNN.penalty`)."""
        task_output = self._step_task_output(step, inputs, labels)
        loss, loss_inputs = self._loss_of(step, inputs, task_output, labels)
        if step == TASK_STEP and task_output is not None:
            penalty = self.task_nn.penalty(task_output)
            if penalty is not None:
                loss = loss + penalty
        return loss, task_output, loss_inputs

    def step_objective(self, batch: Dict[str, Any], step: str = TASK_STEP) -> torch.Tensor:
        """The loss that training step `step` minimises on `batch` (a batch of the training data
        loader, with its labels): the value of `forward(**batch, seal_step=step)["loss"]`, without
        updating the training metrics.  For callbacks that probe the training objective (the
        online unary scale); run it under `torch.no_grad()` unless a gradient is wanted."""
        inputs = {name: value for name, value in batch.items() if name != "metadata"}
        labels = inputs.pop(self.label_field, None)
        if labels is None:
            raise ConfigurationError(f"training step {step!r} needs labels in the batch")
        return self._step_loss(step, inputs, labels)[0]

    def _step_task_output(self, step: str, inputs: Dict[str, Any], labels: torch.Tensor) -> Optional[TaskOutput]:
        """The task-net's output for a training step: with gradient for the task-net step, without
        for a score-net step; inside `training_batch` the batch's shared one."""
        shared = self._batch_task_output
        if shared is None:
            return self._run_task_nn(inputs, with_grad=step == TASK_STEP)
        if shared.get("labels") is not labels:
            with_grad = self.step_loss(TASK_STEP) is not None
            shared.update(labels=labels, output=self._run_task_nn(inputs, with_grad=with_grad))
        output = shared["output"]
        if step == TASK_STEP:
            shared.clear()  # the task-net is about to change
            return output
        return None if output is None else TaskOutput(*(t.detach() if torch.is_tensor(t) else t for t in output))

    def _loss_of(
        self,
        step: str,
        inputs: Dict[str, Any],
        task_output: Optional[TaskOutput],
        labels: torch.Tensor,
        score: Optional[BoundScore] = None,
    ) -> Tuple[torch.Tensor, LossInputs]:
        """The loss of `step` on the batch, given the task-net's output on it (and the score-net
        bound to it, if already done)."""
        loss = self.step_loss(step)
        if loss is None:
            raise ConfigurationError(f"{self._name()} has no loss for step {step!r}")
        score_with_grad = step == SCORE_STEP
        loss_inputs = self._context(LossInputs, inputs, task_output, labels, score_with_grad, score)
        return loss(loss_inputs), loss_inputs

    def _run_task_nn(self, inputs: Dict[str, Any], with_grad: bool) -> Optional[TaskOutput]:
        if self.task_nn is None:
            return None
        with torch.set_grad_enabled(with_grad and torch.is_grad_enabled()):
            return self.task_nn(**inputs)

    def _context(self, context_class, inputs, task_output, labels, score_with_grad: bool, score=None):
        if score is None and self.score_nn is not None:
            with torch.set_grad_enabled(score_with_grad and torch.is_grad_enabled()):
                score = self.score_nn.bind(inputs)
        mask = task_output.mask if task_output is not None else (score.mask if score is not None else None)
        if labels is not None:
            logits = task_output.logits if task_output is not None else score.task_output.logits
            labels = self.output_space.encode_labels(labels, mask, logits.size(-1))
        transitions = None
        if task_output is not None and task_output.transitions is not None:
            transitions = (task_output.transitions, task_output.start, task_output.end)
        return context_class(
            output_space=self.output_space,
            task_logits=task_output.logits if task_output is not None else None,
            labels=labels,
            mask=mask,
            score=score,
            task_transitions=transitions,
            epoch=self.epoch,
            phase_epoch=self.phase_epoch,
        )

    # ---- prediction -----------------------------------------------------------------------
    def _predict(self, inputs: Dict[str, Any], labels: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        task_output = self._run_task_nn(inputs, with_grad=True)
        score, predictions = None, None
        if self.inference is None:
            probabilities, predictions = self._read(task_output)
            mask = task_output.mask
        else:
            context = self._context(SamplingContext, inputs, task_output, None, score_with_grad=False)
            probabilities, mask, score = self.inference(context).y[:, 0], context.mask, context.score
        output = {"probabilities": probabilities}
        if mask is not None:
            output["mask"] = mask
        if predictions is not None:
            output["predictions"] = predictions
        if labels is not None:
            output["loss"], encoded_labels = self._validation_loss(inputs, task_output, score, labels)
            self._update_metrics(probabilities, encoded_labels, mask, predictions)
        return output

    def _read(self, task_output: TaskOutput) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The marginals of the task-net's distribution, and its discrete prediction when that is
        not decoded from the marginals (a CRF's Viterbi sequence; `None` otherwise)."""
        distribution = self.output_space.distribution(task_output)
        return distribution.marginals(), self.output_space.prediction(distribution)

    def _validation_loss(
        self,
        inputs: Dict[str, Any],
        task_output: Optional[TaskOutput],
        score: Optional[BoundScore],
        labels: torch.Tensor,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The loss of the model's last training step on this batch, and the encoded labels.  It
        reuses the prediction's task-net output and bound score-net: each net runs once per batch."""
        step = TASK_STEP if self.task_nn_loss is not None else SCORE_STEP
        loss, loss_inputs = self._loss_of(step, inputs, task_output, labels, score)
        return loss.detach(), loss_inputs.labels

    def _update_metrics(self, probabilities, labels, mask, predictions=None) -> None:
        # A discrete prediction is its own decoding: the metrics read it in place of the marginals.
        scored = probabilities if predictions is None else predictions
        self.output_space.update_metrics(self._metrics, scored, labels, mask)

    def make_output_human_readable(self, output_dict: Dict[str, torch.Tensor]) -> Dict[str, Any]:
        extra = {"predictions": output_dict["predictions"]} if "predictions" in output_dict else {}
        readable = self.output_space.human_readable(output_dict["probabilities"], self.vocab, output_dict.get("mask"),
                                                    **extra)
        for key in readable[0] if readable else []:
            output_dict[key] = [instance[key] for instance in readable]
        return output_dict

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        """The output space's metrics, and the task-net's own (`TaskNN.get_metrics`)."""
        metrics: Dict[str, float] = {}
        for name, metric in self._metrics.items():
            value = metric.get_metric(reset)
            metrics.update(value if isinstance(value, dict) else {name: value})
        if self.task_nn is not None:
            metrics.update(self.task_nn.get_metrics(reset))
        return metrics

    default_predictor = "seal"
