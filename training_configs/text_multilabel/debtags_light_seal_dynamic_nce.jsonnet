// Debtags (../shared/data/debtags, 379 tags), light task-net (word embeddings + CNN), seal_dynamic_nce.
// The loss-net ranks the gold above the task-net's samples by raw score (no proposal correction):
// on dev (seed 1) it learns the rarer tags faster, example-F1 0.654 / macro-F1 0.167 against
// 0.649 / 0.126 with the correction; benchmarks/tuning/debtags_seal_nce_no_correction.md.
// The samples are drawn at temperature 0.5, near the task-net's thresholded prediction, as on frozen
// MiniLM: over 5 seeds dev example-F1 / macro-F1 0.6559 / 0.1763 against 0.6528 / 0.1664 at
// temperature 1; benchmarks/tuning/debtags_light_seal_nce_temperature.md.
local tm = import 'text_multilabel.libsonnet';
tm.config(tm.debtags, tm.light, tm.methods.seal_dynamic_nce) + {
  model+: { score_nn_loss+: { proposal_correction: false, temperature: 0.5 } },
}
