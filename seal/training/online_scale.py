"""Online scaling of a CRF's unary potentials (Shevchenko & Osokin, "Scaling Matters in Deep
Structured-Prediction Models"): after each epoch, the unary scale that minimises the training
objective on (part of) the training set, chosen from a grid."""
import logging
import math
from typing import Any, Dict, Iterable, List, Optional

import torch
import torch.distributed as dist
from allennlp.common.checks import ConfigurationError
from allennlp.models import Model
from allennlp.training.callbacks import TrainerCallback

from seal.models.seal_model import TASK_STEP
from seal.training import random_state

logger = logging.getLogger(__name__)

# Factors of the current scale: 2^(k/2) for k = -4..4, that is 0.25, 0.35, 0.5, 0.71, 1, 1.41, 2, 2.83, 4.
DEFAULT_GRID = [2 ** (k / 2) for k in range(-4, 5)]


@TrainerCallback.register("online-unary-scale")
class OnlineUnaryScale(TrainerCallback):
    """Re-chooses the unary scale of a CRF task-net (its `unary_scale` buffer, which multiplies the
    unary potentials the CRF uses, see `LinearChainCRFTaskNN`) at the start of every epoch after
    the first, that is after each epoch but the last, by a grid search: for each candidate scale,
    the training objective of the task-net step, `model.step_objective(batch)` (the value of
    `model(**batch, seal_step="task_nn")["loss"]`, the task-net's `penalty` included), summed over
    the first `num_batches` batches of the training data loader; the candidate of the smallest
    mean is kept (on a tie, the one nearest the current scale, in ratio).

    The search runs under `no_grad` in eval mode (no dropout, batch-norm statistics frozen: each
    candidate sees the same network), with the random-number states restored before each candidate
    on a batch (the same samples for all candidates, where the loss draws any) and, at the end, to
    what they were before the search, so that training draws exactly what it would have drawn
    without it.  In distributed training the workers' sums are added, so they choose alike.

    The search happens at the start of the next epoch rather than in `on_epoch`, because AllenNLP
    writes an epoch's checkpoint and `best.th` after `on_epoch`: this way the weights saved for an
    epoch hold the scale it was trained and validated with, and a run resumed from a checkpoint at
    an epoch's end repeats the search the uninterrupted run made (the `seal` trainer calls
    `on_epoch_start`, see `SealTrainer`; it does not for an epoch resumed in its middle, whose scale
    is in the checkpoint).  The scale is logged as the task-net's `unary_scale` metric.

    Cost per epoch: `len(grid) * num_batches` forward passes of the task-net step's loss.

    # Parameters
    serialization_dir : `str`
    grid : `List[float]`, optional (default = `2^(k/2)`, k = -4..4: 0.25 to 4)
        Candidate factors of the current scale (`relative`), or candidate scales; all > 0.
    relative : `bool`, optional (default = `True`)
    num_batches : `int`, optional (default = `20`)
        How many training batches the objective is measured on; `None`: the whole training set.
    module : `str`, optional (default = `"task_nn"`)
        The dotted path, from the model, of the module holding the `unary_scale` buffer.
    """

    def __init__(
        self,
        serialization_dir: str,
        grid: Optional[List[float]] = None,
        relative: bool = True,
        num_batches: Optional[int] = 20,
        module: str = "task_nn",
    ) -> None:
        super().__init__(serialization_dir)
        self.grid = list(DEFAULT_GRID if grid is None else grid)
        if not self.grid or not all(isinstance(value, (int, float)) and value > 0 for value in self.grid):
            raise ConfigurationError(f"online-unary-scale: grid must be a non-empty list of numbers > 0, got {grid}")
        if num_batches is not None and num_batches < 1:
            raise ConfigurationError(f"online-unary-scale: num_batches must be >= 1 or null, got {num_batches}")
        self.relative = relative
        self.num_batches = num_batches
        self.module = module
        # The last search's mean objective per candidate scale, for logging and inspection.
        self.last_losses: Dict[float, float] = {}

    def holder(self, model: Model) -> torch.nn.Module:
        """The module whose `unary_scale` buffer the search sets."""
        holder: Any = model
        for name in self.module.split("."):
            holder = getattr(holder, name, None)
        if not isinstance(holder, torch.nn.Module) or not isinstance(getattr(holder, "unary_scale", None),
                                                                     torch.Tensor):
            raise ConfigurationError(
                f"online-unary-scale: the model's {self.module!r} has no `unary_scale` buffer "
                "(use a CRF task-net, e.g. 'linear-chain-crf')"
            )
        return holder

    def on_start(self, trainer, is_primary: bool = True, **kwargs) -> None:
        from seal.training.trainer import SealTrainer

        if not isinstance(trainer, SealTrainer):
            raise ConfigurationError("online-unary-scale needs the 'seal' trainer (it calls on_epoch_start)")
        if not hasattr(trainer.model, "step_objective"):
            raise ConfigurationError("online-unary-scale needs a seal model (one with `step_objective`)")
        self.holder(trainer.model)
        if getattr(trainer.data_loader, "batches_per_epoch", None) is not None:
            raise ConfigurationError(
                "online-unary-scale reads the training data loader from its start, which a data loader with "
                "batches_per_epoch would not repeat: leave batches_per_epoch out"
            )

    def on_epoch_start(self, trainer, epoch: int, is_primary: bool = True, **kwargs) -> None:
        if epoch > 0:
            self.choose(trainer.model, trainer.data_loader)

    def candidates(self, current: float) -> List[float]:
        return sorted({current * value if self.relative else float(value) for value in self.grid})

    def choose(self, model: Model, batches: Iterable[Dict[str, Any]]) -> float:
        """Sets the unary scale to the candidate that minimises the mean task-net step objective
        over the first `num_batches` of `batches`, and returns it."""
        holder = self.holder(model)
        current = float(holder.unary_scale)
        candidates = self.candidates(current)
        totals = torch.zeros(len(candidates) + 1, dtype=torch.float64, device=holder.unary_scale.device)
        before = random_state.capture()
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                for index, batch in enumerate(batches):
                    if self.num_batches is not None and index >= self.num_batches:
                        break
                    at_batch = random_state.capture()
                    for position, candidate in enumerate(candidates):
                        random_state.restore(at_batch)
                        holder.unary_scale.fill_(candidate)
                        totals[position] += model.step_objective(batch, TASK_STEP).double()
                    totals[-1] += 1
        finally:
            holder.unary_scale.fill_(current)
            model.train(was_training)
            random_state.restore(before)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(totals)
        count = int(totals[-1])
        if count == 0:
            logger.warning("online-unary-scale: no training batch to search on; the unary scale stays %g", current)
            return current
        means = (totals[:-1] / count).tolist()
        best = min(range(len(candidates)), key=lambda i: (means[i], abs(math.log(candidates[i] / current))))
        holder.unary_scale.fill_(candidates[best])
        self.last_losses = dict(zip(candidates, means))
        logger.info("online-unary-scale: on %d batches, objective %s; unary scale %g -> %g", count,
                    ", ".join(f"{c:.4g}: {m:.5g}" for c, m in self.last_losses.items()), current, candidates[best])
        return candidates[best]
