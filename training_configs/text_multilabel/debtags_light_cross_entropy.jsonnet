// Debtags (data/debtags, 379 tags), light task-net (word embeddings + CNN), cross_entropy.
local tm = import 'text_multilabel.libsonnet';
tm.config(tm.debtags, tm.light, tm.methods.cross_entropy)
