from seal.training.checkpointer import SealCheckpointer
from seal.training.online_scale import OnlineUnaryScale
from seal.training.optimizer_group import OptimizerGroup, SchedulerGroup
from seal.training.parameter_phases import ParameterPhases
from seal.training.trainer import SealTrainer
