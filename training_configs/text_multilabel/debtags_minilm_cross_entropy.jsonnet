// Debtags (data/debtags, 379 tags), fine-tuned all-MiniLM-L6-v2 (mean pooling), cross_entropy.
// The weights: TRANSFORMER_MODEL=$(.venv/bin/python scripts/minilm_dir.py) allennlp train <this file> ...
local tm = import 'text_multilabel.libsonnet';
tm.config(tm.debtags, tm.transformer(std.extVar('TRANSFORMER_MODEL')), tm.methods.cross_entropy)
