"""Dataset readers registered with AllenNLP's `DatasetReader` registry."""
from seal.data.dataset_readers.arff import ArffDatasetReader
from seal.data.dataset_readers.conll_tags import ConllTagsDatasetReader
from seal.data.dataset_readers.ocr import OcrLettersDatasetReader

__all__ = ["ArffDatasetReader", "ConllTagsDatasetReader", "OcrLettersDatasetReader"]
