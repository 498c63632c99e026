from seal.modules.losses import *  # noqa: F401,F403
from seal.modules.oracles import *  # noqa: F401,F403
from seal.modules.output_spaces import *  # noqa: F401,F403
from seal.modules.samplers import *  # noqa: F401,F403
from seal.modules.score_nets import *  # noqa: F401,F403
from seal.modules.structured_scores import *  # noqa: F401,F403
from seal.modules.task_nets import *  # noqa: F401,F403
from seal.modules.token_embedders import *  # noqa: F401,F403
