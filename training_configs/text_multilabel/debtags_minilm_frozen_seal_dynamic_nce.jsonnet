// Debtags (data/debtags, 379 tags), all-MiniLM-L6-v2 frozen (mean-pooled wordpiece vectors,
// cached in runs/frozen_features) under a trained MLP, seal_dynamic_nce (raw-score ranking of
// temperature-0.5 samples: see `methods` in text_multilabel.libsonnet).
// The weights: TRANSFORMER_MODEL=$(.venv/bin/python scripts/minilm_dir.py) allennlp train <this file> ...
local tm = import 'text_multilabel.libsonnet';
tm.config(tm.debtags, tm.frozen_transformer(std.extVar('TRANSFORMER_MODEL')), tm.methods.seal_dynamic_nce)
