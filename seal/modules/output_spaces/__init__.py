from seal.modules.output_spaces.output_space import OutputSpace
from seal.modules.output_spaces.multilabel import MultiLabelOutputSpace
