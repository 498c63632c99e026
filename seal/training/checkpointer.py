import logging
import os
import pickle
import zipfile
from typing import Any, List, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.training.checkpointer import Checkpointer
from allennlp.training.trainer import TrainerCheckpoint

logger = logging.getLogger(__name__)

DAMAGED_SUFFIX = ".damaged"


class DamagedCheckpointFile(Exception):
    """A checkpoint file that is missing or cannot be loaded; the message names it and says why."""


@Checkpointer.register("seal")
class SealCheckpointer(Checkpointer):
    """AllenNLP's checkpointer (same arguments, files `model_state_e{epoch}_b{batch}.th` and
    `training_state_e{epoch}_b{batch}.th`, same retention by count and age), made safe against
    interrupted and damaged checkpoints:

    - each file is written to a temporary name and renamed into place, the training state before the
      model state (whose presence marks a checkpoint), so a run killed while saving leaves the
      previous checkpoints as they were and no half-written file under a checkpoint's name;
    - `--recover` loads the newest checkpoint whose two files load (with `weights_only=True`); each
      newer one that does not is logged with the damaged file and the reason, and set aside (its files
      renamed to `*.th.damaged`, so that neither retention nor `best.th` picks it up again), and the
      checkpoint recovered from is logged.  If checkpoints exist but none is intact, recovery stops
      with a `ConfigurationError` naming every damaged file, and leaves them in place.
    """

    def save_checkpoint(self, trainer) -> None:
        if self._serialization_dir is None:
            return
        checkpoint = trainer.get_checkpoint_state()
        if checkpoint is None:  # a non-primary worker of distributed training with an unsharded model
            return
        state = checkpoint.trainer_state
        point = state["epochs_completed"], state["batches_in_epoch_completed"]
        _save_atomically(checkpoint.trainer_state, self._training_state_path(*point))
        _save_atomically(checkpoint.model_state, self._model_state_path(*point))
        # AllenNLP's save finds both files present (so writes nothing) and does its bookkeeping and
        # the retention of old checkpoints.
        super().save_checkpoint(_Saved(checkpoint))

    def load_checkpoint(self) -> Optional[TrainerCheckpoint]:
        damaged: List[Tuple[int, int]] = []
        problems: List[str] = []
        for point in sorted(self._find_all_checkpoints(), reverse=True):
            paths = self._model_state_path(*point), self._training_state_path(*point)
            states, point_problems = _load_all(paths)
            if point_problems:
                logger.warning("Checkpoint %s is unusable: %s", _name(point), "; ".join(point_problems))
                damaged.append(point)
                problems.extend(point_problems)
                continue
            if damaged:
                self._set_aside(damaged)
                logger.warning("Recovering from checkpoint %s (%s and %s), the newest intact one",
                               _name(point), *paths)
            return TrainerCheckpoint(*states)
        if damaged:
            raise ConfigurationError(
                f"--recover found no intact checkpoint in {self._serialization_dir}: " + "; ".join(problems)
                + ". Start the run again (-f, or another serialization directory)."
            )
        return None

    def _set_aside(self, points: List[Tuple[int, int]]) -> None:
        """Renames damaged checkpoints' files out of AllenNLP's `*.th` pattern, so that neither
        retention nor `best.th` nor a later `--recover` takes them for checkpoints (the primary worker
        only: every worker reads the same files)."""
        if not self._is_primary:
            return
        for point in points:
            for path in (self._model_state_path(*point), self._training_state_path(*point)):
                if os.path.exists(path):
                    os.replace(path, path + DAMAGED_SUFFIX)
        logger.warning("Set aside checkpoint%s %s: the files are renamed to *.th%s", "s" if len(points) > 1 else "",
                       ", ".join(map(_name, points)), DAMAGED_SUFFIX)


class _Saved:
    """Hands an already-built checkpoint state to `Checkpointer.save_checkpoint`."""

    def __init__(self, checkpoint: TrainerCheckpoint) -> None:
        self._checkpoint = checkpoint

    def get_checkpoint_state(self) -> TrainerCheckpoint:
        return self._checkpoint


def _name(point: Tuple[int, int]) -> str:
    return "e{}_b{}".format(*point)


def _save_atomically(state: Any, path: str) -> None:
    temporary = f"{path}.tmp{os.getpid()}"
    try:
        with open(temporary, "wb") as file:
            torch.save(state, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _load_all(paths: Tuple[str, ...]) -> Tuple[List[Any], List[str]]:
    """The states saved in `paths`, and what is wrong with each file that is missing or damaged."""
    states, problems = [], []
    for path in paths:
        try:
            states.append(_load(path))
        except DamagedCheckpointFile as error:
            problems.append(str(error))
    return states, problems


def _load(path: str) -> Any:
    """The state saved in `path`, loaded safely onto the CPU; `DamagedCheckpointFile` naming the file
    and the damage if it is missing or unreadable."""
    if not os.path.isfile(path):
        raise DamagedCheckpointFile(f"{path} is missing")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - every failure to read is reported as damage, by kind
        raise DamagedCheckpointFile(f"{path} {_damage(path, error)}") from None
    if not isinstance(state, dict):
        raise DamagedCheckpointFile(f"{path} holds a {type(state).__name__}, not a state dictionary")
    return state


def _damage(path: str, error: Exception) -> str:
    """What is wrong with a file `torch.load` failed on, in a few words (torch's own message for a
    damaged file can end with advice to load it unsafely, which is not repeated)."""
    size = os.path.getsize(path)
    if size == 0:
        return "is empty (0 bytes)"
    if not zipfile.is_zipfile(path):
        return f"is not a complete PyTorch checkpoint ({size} bytes: truncated or overwritten)"
    if isinstance(error, pickle.UnpicklingError):
        detail = str(error).partition("WeightsUnpickler error:")[2].strip().split("\n")[0]
        return f"cannot be unpickled safely (weights_only){': ' + detail if detail else ''}"
    first_line = str(error).strip().split("\n")[0]
    return f"cannot be read ({type(error).__name__}: {first_line})"
