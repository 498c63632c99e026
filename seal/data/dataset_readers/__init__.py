"""Dataset readers registered with AllenNLP's `DatasetReader` registry."""
from seal.data.dataset_readers.arff import ArffDatasetReader
from seal.data.dataset_readers.conll_tags import ConllTagsDatasetReader
from seal.data.dataset_readers.ocr import OcrLettersDatasetReader
from seal.data.dataset_readers.segmentation import SegmentationArraysReader, SegmentationFolderReader
from seal.data.dataset_readers.srl import Conll2012SrlReader
from seal.data.dataset_readers.text_multilabel import TextMultilabelReader

__all__ = ["ArffDatasetReader", "Conll2012SrlReader", "ConllTagsDatasetReader", "OcrLettersDatasetReader",
           "SegmentationArraysReader", "SegmentationFolderReader", "TextMultilabelReader"]
