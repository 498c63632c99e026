from typing import Any, Dict, List, Optional

import torch
from allennlp.training.learning_rate_schedulers import LearningRateScheduler


class OptimizerGroup:
    """Several named optimizers (one per trained module) behind the single-optimizer interface that
    AllenNLP's trainer, checkpointer and callbacks use: `param_groups`, `zero_grad`, `state_dict`,
    `load_state_dict`.  `step` is deliberately absent: the `SealTrainer` steps one module at a time."""

    def __init__(self, optimizers: Dict[str, torch.optim.Optimizer]) -> None:
        self.optimizers = optimizers

    def __getitem__(self, name: str) -> torch.optim.Optimizer:
        return self.optimizers[name]

    def __contains__(self, name: str) -> bool:
        return name in self.optimizers

    @property
    def param_groups(self) -> List[Dict[str, Any]]:
        return [group for optimizer in self.optimizers.values() for group in optimizer.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> Dict[str, Any]:
        return {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state[name])


class SchedulerGroup:
    """Named learning-rate schedulers behind the one-scheduler interface of AllenNLP's trainer."""

    def __init__(self, schedulers: Dict[str, LearningRateScheduler]) -> None:
        self.schedulers = schedulers

    def get(self, name: str) -> Optional[LearningRateScheduler]:
        return self.schedulers.get(name)

    def step(self, metric: Optional[float] = None) -> None:
        for scheduler in self.schedulers.values():
            scheduler.step(metric)

    def state_dict(self) -> Dict[str, Any]:
        return {name: scheduler.state_dict() for name, scheduler in self.schedulers.items()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        for name, scheduler in self.schedulers.items():
            scheduler.load_state_dict(state[name])
