// debtags-bow (bibtex-like sparse MEKA ARFF, data/debtags-bow).
// lr 3e-3 for both networks: chosen on dev, benchmarks/tuning/debtags_bow.md, section debtags_bow_seal_nce
// proposal_correction false (rank by raw score): chosen on dev, benchmarks/tuning/debtags.md,
// section debtags_seal_nce_no_correction
local ml = import 'multilabel.libsonnet';
ml.config(ml.datasets['debtags-bow'], ml.methods.seal_dynamic_nce) + {
  trainer+: { optimizers: { task_nn: ml.adam(3e-3), score_nn: ml.adam(3e-3) } },
  model+: { score_nn_loss+: { proposal_correction: false } },
}
