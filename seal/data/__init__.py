"""Data loading for seal: dataset readers and fields."""
from seal.data.dataset_readers import *  # noqa: F401,F403
from seal.data.fields import *  # noqa: F401,F403
