import logging
import math
import os
from typing import Any, Dict, List, Optional, Union

import torch
import torch.distributed as dist
from allennlp.common import Lazy, Tqdm
from allennlp.common.checks import ConfigurationError, check_for_gpu
from allennlp.data import DataLoader, TensorDict
from allennlp.models import Model
from allennlp.nn.parallel import DdpAccelerator, TorchDdpAccelerator
from allennlp.nn.util import dist_reduce_sum
from allennlp.training import util as training_util
from allennlp.training.callbacks import TrainerCallback
from allennlp.training.checkpointer import Checkpointer
from allennlp.training.gradient_descent_trainer import GradientDescentTrainer
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from allennlp.training.moving_average import MovingAverage
from allennlp.training.optimizers import Optimizer
from allennlp.training.trainer import Trainer, TrainerCheckpoint

from seal.training import random_state
from seal.training.checkpointer import SealCheckpointer
from seal.training.optimizer_group import OptimizerGroup, SchedulerGroup
from seal.training.parameter_phases import ParameterPhases

logger = logging.getLogger(__name__)


@Trainer.register("seal", constructor="from_partial_objects")
class SealTrainer(GradientDescentTrainer):
    """AllenNLP's gradient-descent trainer with one optimizer, learning-rate scheduler and gradient
    clipping per trained module of the model (`score_nn`, `task_nn`).

    For every batch it runs the model's active steps in order (`model.active_steps(epoch)`, the
    loss-net first), each `num_steps[step]` times: zero all gradients, `loss =
    model(**batch, seal_step=step)["loss"]` (+ regularisation), backward, clip that module's
    gradient norm, step that module's optimizer.  The steps of a batch run inside
    `model.training_batch()`, so that the model can share work between them (one task-net forward
    per batch).  It knows nothing about tasks.

    A step is named after the module it trains, an attribute of the model (`score_nn`, `task_nn`, or
    any other a model defines: `infnet-plus`'s `cost_augmented_nn`), and steps that module's
    optimizer; `grad_norm`, `num_steps` and `learning_rate_schedulers` are keyed by the same names.
    Two modules may share parameters (infnet-plus's inference networks share their feature
    network): each module's optimizer then holds them, with its own state, and each of the two
    steps updates them.

    Everything else is AllenNLP's: validation and early stopping on `validation_metric`,
    checkpoints and `--recover` (optimizer and scheduler states are saved per module), callbacks
    (TensorBoard), Tqdm progress, and distributed data-parallel training (gloo on CPU), where the
    model is wrapped with `find_unused_parameters=True` because each step leaves the other module
    without gradient.

    Beyond AllenNLP, a checkpoint also holds the global random-number states (Python, NumPy, torch;
    see `random_state`), at the checkpoint and at the start of its epoch, so that a run resumed with
    `--recover` from any checkpoint, mid-epoch included, ends with the weights of the same run never
    interrupted (same config and seeds, on CPU): the resumed run replays the data loader up to the
    checkpoint as AllenNLP does, restoring the epoch's starting states before the epoch's data order is
    drawn and the checkpoint's states once the replay reaches it; a run resumed from the end of its
    best epoch writes that epoch's `best.th`, which AllenNLP writes only after the checkpoint.  The
    default checkpointer is `SealCheckpointer` (atomic saves; recovery from the newest intact
    checkpoint).

    Training regimes: with `parameter_phases` the trainer trains different sets of the model's
    parameters in successive epochs (see `ParameterPhases`; stage training of a CRF), the set of
    each epoch applied at its start from the epoch number alone (a recovered run is in the same
    phase); every trainable parameter is in its module's optimizer throughout, and a frozen one has
    no gradient, so its optimizer leaves it and its state alone.  Without phases (or with `[]`)
    every parameter trains in every epoch: joint training.

    Callbacks may also define `on_epoch_start(trainer, epoch, is_primary)`: the `seal` trainer calls
    it at the start of each epoch it trains from the first batch, after the epoch's phase is applied
    and before any batch is drawn, but not for an epoch that a recovered run resumes in the middle of
    (the checkpoint holds what the call did then), nor for epochs replayed to catch up with a
    checkpoint.  AllenNLP's own trainer never calls it (see `seal.training.online_scale`).

    # Parameters (beyond those of `GradientDescentTrainer.from_partial_objects`)
    optimizers : `Dict[str, Lazy[Optimizer]]`
        One optimizer per module name; it receives that module's trainable parameters, named
        relative to the module (so `parameter_groups` regexes see e.g. `global_score.*`).
    learning_rate_schedulers : `Dict[str, Lazy[LearningRateScheduler]]`, optional
    num_steps : `Dict[str, int]`, optional (default = 1 per module)
        Updates of each module per batch.
    grad_norm : `Dict[str, float]`, optional
        Maximum gradient norm per module.
    moving_average : `Lazy[MovingAverage]`, optional
        AllenNLP's parameter averaging (e.g. `{"type": "exponential", "decay": 0.999}`) over every
        trainable parameter, updated once per batch after all of its steps.  As in AllenNLP's own
        trainer, validation, the best checkpoint (`best.th`) and the final model use the averaged
        values; training continues from the raw ones.
    parameter_phases : `List[Dict[str, Any]]`, optional
        `[{"epochs": N, "trainable": [regex, ...]} or {"epochs": N, "frozen": [regex, ...]}, ...]`,
        the last phase's `epochs` optional (until the end); see `ParameterPhases`.
    """

    def __init__(
        self,
        model: Model,
        optimizer: OptimizerGroup,
        data_loader: DataLoader,
        num_steps: Optional[Dict[str, int]] = None,
        grad_norms: Optional[Dict[str, float]] = None,
        parameter_phases: Optional[List[Dict[str, Any]]] = None,
        **kwargs,
    ) -> None:
        super().__init__(model, optimizer, data_loader, **kwargs)
        self._num_steps = num_steps or {}
        self._grad_norms = grad_norms or {}
        self._phases = (
            ParameterPhases(parameter_phases, list(model.named_parameters()), self._num_epochs)
            if parameter_phases else None
        )
        self._phase_index: Optional[int] = None
        self._frozen: List[torch.nn.Parameter] = []
        # The random states at the start of the current epoch, and those of the checkpoint being
        # resumed from while it is being caught up with (see `_resume_random_states`).
        self._epoch_random_states: Optional[random_state.RandomStates] = None
        self._pending_random_states: Optional[Dict[str, Any]] = None

    def train(self) -> Dict[str, Any]:
        try:
            return super().train()
        finally:
            if self._phases is not None:
                self._phases.release()
            self._leave_process_group()

    def _leave_process_group(self) -> None:
        """After distributed training AllenNLP evaluates the test set in the primary worker alone,
        while the other workers exit; metrics that sum their statistics over workers would then wait
        forever for them.  Every worker leaves the process group once training is over, so that
        later evaluation is local."""
        if self._distributed and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    # ---- one epoch ------------------------------------------------------------------------
    def _train_epoch(self, epoch: int) -> Dict[str, float]:
        self._enter_phase(epoch)
        steps = self._steps_of(epoch)
        logger.info("Epoch %d/%d, steps per batch: %s", epoch, self._num_epochs - 1, steps)
        self._resume_random_states()
        self._epoch_random_states = random_state.capture()
        if self._trains_from_the_start(epoch):
            for callback in self._callbacks:
                if hasattr(callback, "on_epoch_start"):
                    callback.on_epoch_start(self, epoch, is_primary=self._primary)
        self._pytorch_model.train()
        step_loss_sums = {step: 0.0 for step in steps}
        batches = iter(self.data_loader)
        if self._primary:
            batches = Tqdm.tqdm(batches, total=self._num_batches())
        done_early = False
        for batch in batches:
            if self._skip_for_recovery():
                continue
            if self._distributed and self._another_worker_finished():
                done_early = True
                break
            batch_losses, grad_norm = self._train_batch(batch, steps)
            if self._moving_average is not None:
                self._moving_average.apply(self._total_batches_completed + 1)
            for step, value in batch_losses.items():
                step_loss_sums[step] += value
            self._batches_in_epoch_completed += 1
            self._total_batches_completed += 1
            metrics = self._running_metrics(step_loss_sums, batch_losses)
            for callback in self._callbacks:
                callback.on_batch(self, [batch], [{"loss": sum(batch_losses.values())}], metrics, epoch,
                                  self._batches_in_epoch_completed, is_training=True,
                                  is_primary=self._primary, batch_grad_norm=grad_norm)
            if self._primary:
                batches.set_description(training_util.description_from_metrics(metrics), refresh=False)
            if self._checkpointer is not None:
                self._checkpointer.maybe_save_checkpoint(self, self._epochs_completed, self._batches_in_epoch_completed)
        self._finish_distributed_epoch(done_early)
        return self._epoch_metrics(step_loss_sums)

    def _enter_phase(self, epoch: int) -> None:
        """Applies the parameter phase of `epoch` (nothing without `parameter_phases`)."""
        if self._phases is None:
            return
        phase = self._phases.apply(epoch)
        self._frozen = self._phases.frozen()
        if phase.index != self._phase_index:
            self._phase_index = phase.index
            logger.info("Epoch %d: parameter phase %d trains %d of %d parameters, freezes %d", epoch, phase.index,
                        len(phase.trained), len(self._phases.parameters), len(self._frozen))

    def _trains_from_the_start(self, epoch: int) -> bool:
        """Whether epoch `epoch` is trained from its first batch: not replayed to catch up with a
        checkpoint, nor resumed from a checkpoint in its middle."""
        return epoch > self._start_after_epochs_completed or (
            epoch == self._start_after_epochs_completed and self._start_after_batches_in_epoch_completed == 0
        )

    def _steps_of(self, epoch: int) -> List[str]:
        steps = self.model.active_steps(epoch)
        missing = [step for step in steps if step not in self.optimizer]
        if missing:
            raise ConfigurationError(
                f"trainer.optimizers has no optimizer for {missing}; the model trains {steps}"
            )
        return steps

    def _train_batch(self, batch: TensorDict, steps: List[str]):
        losses: Dict[str, float] = {}
        grad_norm = None
        with self.model.training_batch():
            for step in steps:
                for _ in range(self._num_steps.get(step, 1)):
                    loss = self._step(batch, step)
                    for parameter in self._frozen:  # a frozen parameter's optimizer must skip it
                        parameter.grad = None
                    grad_norm = self._clip(step)
                    self.optimizer[step].step()
                    losses[step] = loss
                scheduler = self._learning_rate_scheduler.get(step) if self._learning_rate_scheduler else None
                if scheduler is not None:
                    scheduler.step_batch(self._total_batches_completed + 1)
        return losses, grad_norm

    def _step(self, batch: TensorDict, step: str) -> float:
        self._pytorch_model.zero_grad(set_to_none=True)
        loss = self._pytorch_model(**batch, seal_step=step)["loss"]
        penalty = self.model.get_regularization_penalty()
        if penalty is not None:
            loss = loss + penalty
        if torch.isnan(loss):
            raise ValueError(f"nan loss in the {step} step")
        loss.backward()
        return loss.item()

    def _clip(self, step: str) -> Optional[float]:
        max_norm = self._grad_norms.get(step)
        parameters = [p for p in getattr(self.model, step).parameters() if p.grad is not None]
        if max_norm is None or not parameters:
            return None
        return torch.nn.utils.clip_grad_norm_(parameters, max_norm).item()

    # ---- bookkeeping shared with AllenNLP's loop ---------------------------------------------
    def _num_batches(self) -> Union[int, float]:
        try:
            return len(self.data_loader)
        except TypeError:
            return math.inf

    def _skip_for_recovery(self) -> bool:
        """While catching up with a checkpoint, batches are read (to replay the data order) but
        not trained on."""
        behind = self._epochs_completed < self._start_after_epochs_completed or (
            self._epochs_completed == self._start_after_epochs_completed
            and self._batches_in_epoch_completed < self._start_after_batches_in_epoch_completed
        )
        if behind:
            self._batches_in_epoch_completed += 1
            self._total_batches_completed += 1
            self._resume_random_states()
        return behind

    # ---- checkpoints: random states, restoring, best.th --------------------------------------
    def get_checkpoint_state(self) -> Optional[TrainerCheckpoint]:
        checkpoint = super().get_checkpoint_state()
        if checkpoint is not None:
            mid_epoch = self._batches_in_epoch_completed > 0
            checkpoint.trainer_state["random_states"] = {
                "checkpoint": random_state.capture(),
                "epoch_start": self._epoch_random_states if mid_epoch else None,
            }
        return checkpoint

    def _resume_random_states(self) -> None:
        """While catching up with a checkpoint: at the start of its epoch, the random states that
        epoch started with (the data loader then draws the same order), and once the replay reaches
        the checkpoint, the states saved with it.  A checkpoint at an epoch's end has only the latter,
        which are also the next epoch's starting states."""
        saved = self._pending_random_states
        if saved is None or self._epochs_completed != self._start_after_epochs_completed:
            return
        if self._batches_in_epoch_completed == self._start_after_batches_in_epoch_completed:
            random_state.restore(saved["checkpoint"])
            self._pending_random_states = None
        elif self._batches_in_epoch_completed == 0 and saved["epoch_start"] is not None:
            random_state.restore(saved["epoch_start"])

    def _maybe_restore_checkpoint(self) -> None:
        """AllenNLP's restore (the same steps, in its order), keeping the checkpoint's random states
        for `_resume_random_states`: AllenNLP's own restore has no hook for them."""
        checkpoint = None if self._checkpointer is None else self._checkpointer.load_checkpoint()
        if checkpoint is None:
            self._start_after_epochs_completed = 0
            self._start_after_batches_in_epoch_completed = 0
            self._best_model_filename = None
            return
        model_state, training_state = checkpoint
        if training_state["version"] != 1:
            raise ValueError(f"{type(self).__name__} reads checkpoints of version 1, not {training_state['version']}")
        (self._ddp_wrapped_model if self._distributed else self._pytorch_model).load_state_dict(model_state)
        self._metric_tracker.load_state_dict(training_state["metric_tracker"])
        self.optimizer.load_state_dict(training_state["optimizer"])
        for callback, state in zip(self._callbacks, training_state["callbacks"]):
            callback.load_state_dict(state)
        for name in ("learning_rate_scheduler", "momentum_scheduler", "moving_average"):
            if getattr(self, f"_{name}") is not None:
                getattr(self, f"_{name}").load_state_dict(training_state[name])
        self._start_after_epochs_completed = training_state["epochs_completed"]
        self._start_after_batches_in_epoch_completed = training_state["batches_in_epoch_completed"]
        self._best_model_filename = training_state["best_model_filename"]
        self._pending_random_states = training_state.get("random_states")
        if self._pending_random_states is None:
            logger.warning("The checkpoint holds no random states (saved by an older seal): the resumed run "
                           "will not repeat the interrupted one exactly")
        if self._start_after_batches_in_epoch_completed == 0:
            self._save_best_of_the_checkpoint_epoch()

    def _save_best_of_the_checkpoint_epoch(self) -> None:
        """AllenNLP saves an epoch's end-of-epoch checkpoint before it writes that epoch's `best.th`
        and records its name, so a run resumed from it would end with the weights of an older best
        epoch (or its last epoch's), or keep a stale `best.th` if killed in between.  When the epoch
        before the checkpoint was the best, its `best.th` is written here, as the uninterrupted run
        did (averaged weights under a moving average; unsharded models)."""
        if not (self._should_validate_this_epoch and self._serialization_dir and self._metric_tracker.is_best_so_far()):
            return
        self._best_model_filename = os.path.join(self._serialization_dir, "best.th")
        if not self._primary:
            return
        if self._moving_average is not None:
            self._moving_average.assign_average_value()
        try:
            self._save_model_state(self._best_model_filename)
        finally:
            if self._moving_average is not None:
                self._moving_average.restore()

    def _another_worker_finished(self) -> bool:
        done = torch.tensor(0, device=self.cuda_device)
        dist.all_reduce(done, dist.ReduceOp.SUM)
        if done.item() > 0:
            logger.warning("Worker %d finishing its epoch early: the workers' data is imbalanced", dist.get_rank())
        return done.item() > 0

    def _finish_distributed_epoch(self, done_early: bool) -> None:
        if not self._distributed:
            return
        if not done_early:
            done = torch.tensor(1, device=self.cuda_device)
            dist.all_reduce(done, dist.ReduceOp.SUM)
        dist.barrier()

    def _running_metrics(self, loss_sums: Dict[str, float], batch_losses: Dict[str, float]) -> Dict[str, float]:
        count = max(self._batches_in_epoch_completed, 1)
        metrics = training_util.get_metrics(
            self.model, sum(loss_sums.values()), None, sum(batch_losses.values()), None, count
        )
        metrics.update({f"{step}_loss": total / count for step, total in loss_sums.items()})
        return metrics

    def _epoch_metrics(self, loss_sums: Dict[str, float]) -> Dict[str, float]:
        caught_up = not (
            self._epochs_completed < self._start_after_epochs_completed
            or (self._epochs_completed == self._start_after_epochs_completed
                and self._batches_in_epoch_completed - 1 < self._start_after_batches_in_epoch_completed)
        )
        if not caught_up:
            return {}
        num_batches = max(dist_reduce_sum(self._batches_in_epoch_completed), 1)
        totals = {step: dist_reduce_sum(total) for step, total in loss_sums.items()}
        metrics = training_util.get_metrics(
            self.model, sum(totals.values()), None, None, None, num_batches, reset=True
        )
        metrics.update({f"{step}_loss": total / num_batches for step, total in totals.items()})
        return metrics

    # ---- construction ----------------------------------------------------------------------
    @classmethod
    def from_partial_objects(  # type: ignore[override]
        cls,
        model: Model,
        serialization_dir: str,
        data_loader: DataLoader,
        optimizers: Dict[str, Lazy[Optimizer]],
        validation_data_loader: DataLoader = None,
        local_rank: int = 0,
        patience: Optional[int] = None,
        validation_metric: Union[str, List[str]] = "-loss",
        num_epochs: int = 20,
        cuda_device: Optional[Union[int, torch.device]] = None,
        distributed: bool = False,
        world_size: int = 1,
        num_steps: Optional[Dict[str, int]] = None,
        grad_norm: Optional[Dict[str, float]] = None,
        learning_rate_schedulers: Optional[Dict[str, Lazy[LearningRateScheduler]]] = None,
        moving_average: Optional[Lazy[MovingAverage]] = None,
        parameter_phases: Optional[List[Dict[str, Any]]] = None,
        checkpointer: Optional[Lazy[Checkpointer]] = Lazy(SealCheckpointer),
        callbacks: Optional[List[Lazy[TrainerCallback]]] = None,
        enable_default_callbacks: bool = True,
        run_confidence_checks: bool = True,
        ddp_accelerator: Optional[DdpAccelerator] = None,
    ) -> "SealTrainer":
        cuda_device = cuda_device if cuda_device is not None else (0 if torch.cuda.device_count() else -1)
        check_for_gpu(cuda_device)
        ddp_wrapped_model = None
        if distributed:
            accelerator = ddp_accelerator or TorchDdpAccelerator(find_unused_parameters=True, cuda_device=cuda_device)
            model, ddp_wrapped_model = accelerator.wrap_model(model)
        elif cuda_device >= 0:
            model = model.cuda(cuda_device)
        unknown = [name for name in optimizers if not isinstance(getattr(model, name, None), torch.nn.Module)]
        if unknown:
            raise ConfigurationError(f"trainer.optimizers names {unknown}, which are not modules of the model")
        optimizer_group = OptimizerGroup({
            name: lazy.construct(
                model_parameters=[[n, p] for n, p in getattr(model, name).named_parameters() if p.requires_grad]
            )
            for name, lazy in optimizers.items()
            if any(p.requires_grad for p in getattr(model, name).parameters())
        })
        batches_per_epoch = _length_or_none(data_loader)
        schedulers = None
        if learning_rate_schedulers:
            schedulers = SchedulerGroup({
                name: lazy.construct(
                    optimizer=optimizer_group[name], num_epochs=num_epochs, num_steps_per_epoch=batches_per_epoch
                )
                for name, lazy in learning_rate_schedulers.items() if name in optimizer_group
            })
        return cls(
            model,
            optimizer_group,
            data_loader,
            num_steps=num_steps,
            grad_norms=grad_norm,
            parameter_phases=parameter_phases,
            patience=patience,
            validation_metric=validation_metric,
            validation_data_loader=validation_data_loader,
            num_epochs=num_epochs,
            serialization_dir=serialization_dir,
            cuda_device=cuda_device,
            learning_rate_scheduler=schedulers,
            moving_average=None if moving_average is None else moving_average.construct(
                parameters=[[n, p] for n, p in model.named_parameters() if p.requires_grad]),
            checkpointer=None if checkpointer is None else checkpointer.construct(serialization_dir=serialization_dir),
            callbacks=[callback.construct(serialization_dir=serialization_dir) for callback in callbacks or []],
            distributed=distributed,
            local_rank=local_rank,
            world_size=world_size,
            enable_default_callbacks=enable_default_callbacks,
            run_confidence_checks=run_confidence_checks,
            ddp_wrapped_model=ddp_wrapped_model,
        )


def _length_or_none(data_loader: DataLoader) -> Optional[int]:
    try:
        return len(data_loader)
    except TypeError:
        return None
