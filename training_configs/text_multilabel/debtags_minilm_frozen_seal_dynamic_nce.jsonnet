// Debtags (../shared/data/debtags, 379 tags), all-MiniLM-L6-v2 frozen (mean-pooled wordpiece vectors,
// cached in runs/frozen_features) under a trained MLP, seal_dynamic_nce.
// The weights: TRANSFORMER_MODEL=$(.venv/bin/python scripts/minilm_dir.py) allennlp train <this file> ...
// As on the light net, the loss-net ranks by raw score (no proposal correction): over 3 seeds dev
// example-F1 0.650-0.652 against 0.643 with the correction (seed 1);
// benchmarks/tuning/debtags_minilm_frozen_nce_no_correction.md.  The noise samples are drawn at
// temperature 0.5, near the task-net's thresholded prediction: over 3 seeds dev example-F1 / macro-F1
// 0.6530 / 0.4329 against 0.6513 / 0.4247 at temperature 1; benchmarks/tuning/debtags_minilm_frozen_nce_temperature.md.
local tm = import 'text_multilabel.libsonnet';
tm.config(tm.debtags, tm.frozen_transformer(std.extVar('TRANSFORMER_MODEL')), tm.methods.seal_dynamic_nce) + {
  model+: { score_nn_loss+: { proposal_correction: false, temperature: 0.5 } },
}
