"""Dataset readers registered with AllenNLP's `DatasetReader` registry."""
from seal.data.dataset_readers.arff import ArffDatasetReader

__all__ = ["ArffDatasetReader"]
