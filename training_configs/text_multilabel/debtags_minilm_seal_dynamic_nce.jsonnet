// Debtags (data/debtags, 379 tags), fine-tuned all-MiniLM-L6-v2 (mean pooling), seal_dynamic_nce
// (raw-score ranking of temperature-0.5 samples as on the two benchmarked nets; see `methods` in
// text_multilabel.libsonnet; fine-tuning MiniLM wants a GPU).
// The weights: TRANSFORMER_MODEL=$(.venv/bin/python scripts/minilm_dir.py) allennlp train <this file> ...
local tm = import 'text_multilabel.libsonnet';
tm.config(tm.debtags, tm.transformer(std.extVar('TRANSFORMER_MODEL')), tm.methods.seal_dynamic_nce)
