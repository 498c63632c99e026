from seal.training.checkpointer import SealCheckpointer
from seal.training.optimizer_group import OptimizerGroup, SchedulerGroup
from seal.training.trainer import SealTrainer
