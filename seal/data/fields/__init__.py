"""Fields used by seal's dataset readers."""
from seal.data.fields.label_set_field import LabelSetField

__all__ = ["LabelSetField"]
