// debtags-bow (bibtex-like sparse MEKA ARFF) read from ../shared/data/debtags-bow.
// Both networks learn at 3e-3 here (1e-3 elsewhere): at 1e-3 SEAL was still climbing at the last
// epoch and ended below cross-entropy; see benchmarks/tuning/debtags_bow_seal_nce.md.
// The loss-net ranks by raw score (no proposal correction): dev example-F1 0.647 / macro-F1 0.152
// against 0.640 / 0.127 with it (seed 1); benchmarks/tuning/debtags_seal_nce_no_correction.md.
local ml = import 'multilabel.libsonnet';
ml.config(ml.datasets['debtags-bow'], ml.methods.seal_dynamic_nce) + {
  trainer+: { optimizers: { task_nn: ml.adam(3e-3), score_nn: ml.adam(3e-3) } },
  model+: { score_nn_loss+: { proposal_correction: false } },
}
