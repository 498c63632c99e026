from seal.modules.task_nets.crf import LinearChainCRFTaskNN
from seal.modules.task_nets.feedforward import FeedForwardTaskNN
from seal.modules.task_nets.gaussian_crf import GaussianCRFTaskNN
from seal.modules.task_nets.tagger import LetterCNNTaskNN, TaggerTaskNN
from seal.modules.task_nets.task_nn import TaskNN, TaskOutput
from seal.modules.task_nets.text import TextClassifierTaskNN
from seal.modules.task_nets.unet import UNetTaskNN
