// Debtags (data/debtags, 379 tags), all-MiniLM-L6-v2 frozen (mean-pooled wordpiece vectors,
// cached in runs/frozen_features) under a trained MLP, seal_dynamic_dvn: the loss-net regresses
// the example-F1 of the task-net's output and of 5 samples from it.
// The weights: TRANSFORMER_MODEL=$(.venv/bin/python scripts/minilm_dir.py) allennlp train <this file> ...
local tm = import 'text_multilabel.libsonnet';
tm.config(tm.debtags, tm.frozen_transformer(std.extVar('TRANSFORMER_MODEL')), tm.methods.seal_dynamic_dvn)
