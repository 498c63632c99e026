"""The registered energy-based methods, all instances of the one `SealModel`."""
import logging
from typing import Optional

from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.models.archival import load_archive

from seal.models.seal_model import TASK_STEP, SealModel
from seal.modules.losses.loss import Loss
from seal.modules.losses.score_losses import DVNLoss, MarginLoss, NCERankingLoss
from seal.modules.losses.task_losses import CrossEntropyLoss, EnergyLoss, WeightedSumLoss
from seal.modules.oracles.multilabel import F1Oracle
from seal.modules.oracles.oracle import OracleValue
from seal.modules.samplers.basic import GroundTruthSampler, MultiSampler
from seal.modules.samplers.gradient_based_inference import GradientBasedInference
from seal.modules.samplers.sampler import Sampler

logger = logging.getLogger(__name__)


def _require(model: SealModel, **pieces) -> None:
    missing = [name for name, piece in pieces.items() if piece is None]
    if missing:
        raise ConfigurationError(f"{model._name()} needs {', '.join(missing)} in its configuration")


def _default_loss_oracle(oracle: Optional[OracleValue], score_nn_loss: Optional[Loss]) -> OracleValue:
    """The oracle of a model's default score-net loss (`f1` unless given); an `oracle` beside a
    configured `score_nn_loss` would be ignored, so it is an error."""
    if oracle is not None and score_nn_loss is not None:
        raise ConfigurationError("the model's oracle sets its default score_nn_loss: with a configured "
                                 "score_nn_loss, give the oracle inside it")
    return oracle or F1Oracle()


def energy_with_cross_entropy(
    energy: EnergyLoss, energy_weight: float, cross_entropy_weight: float, guard: bool, guard_epochs: Optional[int]
) -> WeightedSumLoss:
    """An inference network's loss: `energy_weight` times `energy` plus `cross_entropy_weight` times
    cross-entropy, with `guard` the energy's gradient guarded by cross-entropy's (for the first
    `guard_epochs` epochs of the phase, `None`: always)."""
    guard_options = {"anchor": 1, "anchor_epochs": guard_epochs} if guard else {}
    return WeightedSumLoss([energy, CrossEntropyLoss()], [energy_weight, cross_entropy_weight], **guard_options)


class TwoPhases:
    """Mixin for models trained in two phases.  For the first `first_phase_epochs` epochs every
    module with a loss is trained, the task-net with `first_phase_task_loss`; afterwards the
    score-net is frozen and only the task-net is trained, with the model's `task_nn_loss`.
    Subclasses set both attributes in their constructor.  The phase follows the model's `epoch`,
    which is saved with its weights."""

    first_phase_epochs: int
    first_phase_task_loss: Loss

    @property
    def in_first_phase(self) -> bool:
        return self.epoch < self.first_phase_epochs

    @property
    def phase_epoch(self) -> int:
        return self.epoch if self.in_first_phase else self.epoch - self.first_phase_epochs

    def active_steps(self, epoch: int):
        steps = super().active_steps(epoch)
        return steps if self.in_first_phase else [step for step in steps if step == TASK_STEP]

    def step_loss(self, step: str):
        if step == TASK_STEP and self.in_first_phase:
            return self.first_phase_task_loss
        return super().step_loss(step)


@Model.register("seal-dynamic")
class SealDynamic(SealModel):
    """SEAL-dynamic: the loss-net and the task-net are trained in alternation, so the loss adapts to
    the task-net.  Defaults: NCE ranking for the loss-net, energy + cross-entropy for the task-net
    (the energy's gradient guarded by cross-entropy's for the first 10 epochs, see
    `WeightedSumLoss`); the task-net alone predicts."""

    def __init__(
        self, vocab: Vocabulary, score_nn_loss: Optional[Loss] = None, task_nn_loss: Optional[Loss] = None, **kwargs
    ) -> None:
        default_task_loss = WeightedSumLoss([EnergyLoss(), CrossEntropyLoss()], anchor=1, anchor_epochs=10)
        super().__init__(
            vocab,
            score_nn_loss=score_nn_loss or NCERankingLoss(),
            task_nn_loss=task_nn_loss or default_task_loss,
            **kwargs,
        )
        _require(self, task_nn=self.task_nn, score_nn=self.score_nn)


@Model.register("seal-static")
class SealStatic(TwoPhases, SealDynamic):
    """SEAL-static: the loss-net is trained first, then frozen while the task-net learns from it.

    The loss-net's weights come either from a trained archive (`score_nn_archive`: a
    `model.tar.gz` of any seal model whose `score_nn` has the architecture configured here) or
    from pretraining in the same run: during the first `pretraining_epochs` epochs the loss-net is
    trained with `score_nn_loss` on samples of a task-net trained with cross-entropy alone; after
    that only the task-net is trained, with `task_nn_loss`.

    # Parameters
    score_nn_archive : `str`, optional
    pretraining_epochs : `int`, optional (default = `0`)
    loaded_from_archive : `bool`, optional (default = `False`)
        Set by `Model.load` only: the model's own archived weights hold the loss-net.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        score_nn_archive: Optional[str] = None,
        pretraining_epochs: int = 0,
        loaded_from_archive: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(vocab, **kwargs)
        if not loaded_from_archive and (score_nn_archive is None) == (pretraining_epochs <= 0):
            raise ConfigurationError("seal-static needs exactly one of score_nn_archive or pretraining_epochs > 0")
        self.first_phase_epochs = max(pretraining_epochs, 0)
        self.first_phase_task_loss = CrossEntropyLoss()
        if score_nn_archive is not None:
            self._load_score_nn(score_nn_archive)
        if loaded_from_archive and self.first_phase_epochs == 0:
            self.score_nn.requires_grad_(False)

    def _load_score_nn(self, archive_path: str) -> None:
        source = getattr(load_archive(archive_path).model, "score_nn", None)
        if source is None:
            raise ConfigurationError(f"the archive {archive_path} has no score_nn")
        try:
            self.score_nn.load_state_dict(source.state_dict())
        except RuntimeError as error:
            raise ConfigurationError(
                f"the score_nn of {archive_path} does not match the configured score_nn: {error}"
            ) from error
        self.score_nn.requires_grad_(False)
        logger.info("loaded and froze the score_nn of %s", archive_path)

    @classmethod
    def _load(cls, config: Params, serialization_dir: str, weights_file: Optional[str] = None, cuda_device: int = -1):
        # An archived seal-static model holds its loss-net in its own weights: loading it must not
        # need the source archive (which may have moved), so it is rebuilt as if pretrained.
        config = config.duplicate()
        if config["model"].pop("score_nn_archive", None) is not None:
            config["model"]["loaded_from_archive"] = True
        return super()._load(config, serialization_dir, weights_file, cuda_device)


@Model.register("cross-entropy")
class CrossEntropyModel(SealModel):
    """The task-net alone, trained with cross-entropy (the baseline every method is compared to)."""

    def __init__(self, vocab: Vocabulary, task_nn_loss: Optional[Loss] = None, **kwargs) -> None:
        super().__init__(vocab, task_nn_loss=task_nn_loss or CrossEntropyLoss(), **kwargs)
        _require(self, task_nn=self.task_nn)
        if self.score_nn is not None:
            raise ConfigurationError("the cross-entropy model has no score_nn; use seal-dynamic for one")


@Model.register("spen")
class SPEN(SealModel):
    """Structured prediction energy network (Belanger & McCallum, 2016; Belanger et al., 2017): the
    energy is trained with a structured SVM whose violating outputs come from cost-augmented
    gradient-based inference; at test time gradient-based inference predicts.

    Defaults: `score_nn_loss` = margin with cost-augmented GBI (cost `1 - oracle`), `inference` =
    GBI from the uniform output.

    # Parameters
    oracle : `OracleValue`, optional (default = `f1`)
        The task loss of the default `score_nn_loss` (e.g. `soft-iou` for masks); give it inside
        `score_nn_loss` instead when that is configured.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        score_nn_loss: Optional[Loss] = None,
        inference: Optional[Sampler] = None,
        oracle: Optional[OracleValue] = None,
        **kwargs,
    ) -> None:
        oracle = _default_loss_oracle(oracle, score_nn_loss)
        default_loss = MarginLoss(sampler=GradientBasedInference(cost_augmented=oracle), oracle=oracle)
        super().__init__(
            vocab,
            score_nn_loss=score_nn_loss or default_loss,
            inference=inference or GradientBasedInference(),
            **kwargs,
        )
        _require(self, score_nn=self.score_nn)


@Model.register("dvn")
class DVN(SealModel):
    """Deep value network (Gygli et al., 2017): the score regresses the oracle value (F1) of
    outputs found by gradient-based inference and of the ground truth; at test time
    gradient-based inference predicts.

    Defaults: `score_nn_loss` = dvn on GBI outputs and the ground truth, `inference` = GBI.

    # Parameters
    oracle : `OracleValue`, optional (default = `f1`)
        The value the default `score_nn_loss` regresses onto (e.g. `soft-iou` for masks); give it
        inside `score_nn_loss` instead when that is configured.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        score_nn_loss: Optional[Loss] = None,
        inference: Optional[Sampler] = None,
        oracle: Optional[OracleValue] = None,
        **kwargs,
    ) -> None:
        oracle = _default_loss_oracle(oracle, score_nn_loss)
        default_loss = DVNLoss(sampler=MultiSampler([GradientBasedInference(), GroundTruthSampler()]), oracle=oracle)
        super().__init__(
            vocab,
            score_nn_loss=score_nn_loss or default_loss,
            inference=inference or GradientBasedInference(),
            **kwargs,
        )
        _require(self, score_nn=self.score_nn)


@Model.register("infnet")
class InferenceNetwork(TwoPhases, SealModel):
    """Inference networks for SPENs (Tu & Gimpel, 2018), in two phases.

    1. The game (epochs `< game_epochs`): the energy and a cost-augmented inference network `A`
       (the task-net) play the structured SVM's min-max game.  The score-net minimises the hinge
       `[Delta(A(x), y*) - s(x, y*) + s(x, A(x))]_+`; `A` maximises `Delta(A(x), y*) + s(x, A(x))`.
    2. Test-time inference network (later epochs): the score-net is frozen and the task-net,
       initialised from `A`, minimises the energy `-s(x, F(x))` (plus `cross_entropy_weight` times
       cross-entropy, the InfNet+ regulariser).  It predicts alone at test time.

    # Parameters
    game_epochs : `int`
        Number of epochs of phase 1; set `num_epochs` (and `patience`) of the trainer beyond it.
    oracle : `OracleValue`, optional (default = `f1`)
        The task loss `Delta = 1 - oracle`, used by both players.
    cross_entropy_weight : `float`, optional (default = `0.0`)
    guard : `bool`, optional (default = `False`)
        Guard the energy's gradient on the task-net by cross-entropy's (`WeightedSumLoss` with
        `anchor`), in both phases: otherwise the cost-augmented player is driven to outputs far
        from the gold (dev example-F1 near 0 on scene during the game), the energy learns from them
        and the test-time network starts there.  Needs `cross_entropy_weight > 0`.
    guard_epochs : `int`, optional (default = `None`, the whole phase)
        With `guard`, guard only the first `guard_epochs` epochs of each phase.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        game_epochs: int,
        oracle: Optional[OracleValue] = None,
        cross_entropy_weight: float = 0.0,
        guard: bool = False,
        guard_epochs: Optional[int] = None,
        **kwargs,
    ) -> None:
        if game_epochs < 1:
            raise ConfigurationError(f"infnet needs game_epochs >= 1, got {game_epochs}")
        if guard and cross_entropy_weight <= 0:
            raise ConfigurationError("infnet's guard is cross-entropy's gradient: set cross_entropy_weight > 0")
        oracle = oracle or F1Oracle()

        def task_loss(energy: EnergyLoss) -> WeightedSumLoss:
            return energy_with_cross_entropy(energy, 1.0, cross_entropy_weight, guard, guard_epochs)

        super().__init__(vocab, score_nn_loss=MarginLoss(oracle=oracle), task_nn_loss=task_loss(EnergyLoss()), **kwargs)
        _require(self, task_nn=self.task_nn, score_nn=self.score_nn)
        self.first_phase_epochs = game_epochs
        self.first_phase_task_loss = task_loss(EnergyLoss(cost_augmented=oracle))
