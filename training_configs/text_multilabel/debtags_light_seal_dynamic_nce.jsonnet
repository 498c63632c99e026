// Debtags (data/debtags, 379 tags), light task-net (word embeddings + CNN), seal_dynamic_nce
// (raw-score ranking of temperature-0.5 samples: see `methods` in text_multilabel.libsonnet).
local tm = import 'text_multilabel.libsonnet';
tm.config(tm.debtags, tm.light, tm.methods.seal_dynamic_nce)
