"""Fields used by seal's dataset readers."""
from seal.data.fields.label_set_field import LabelSetField
from seal.data.fields.sequence_tags_field import SequenceTagsField

__all__ = ["LabelSetField", "SequenceTagsField"]
