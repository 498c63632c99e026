// Debtags (../shared/data/debtags, 379 tags), light task-net (word embeddings + CNN), seal_dynamic_nce.
local tm = import 'text_multilabel.libsonnet';
tm.config(tm.debtags, tm.light, tm.methods.seal_dynamic_nce)
