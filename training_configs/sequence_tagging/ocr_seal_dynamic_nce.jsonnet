// Handwritten words (../shared/data/ocr/letter.data): train folds 2-9, dev 1, test 0.
// With a negative-entropy term (weight 1) in the task-net's loss, the free energy E_q[-s] - H(q):
// best dev letter accuracy of benchmarks/tuning/ocr_seal_nce_round1.md.
local st = import 'sequence_tagging.libsonnet';
st.config(st.datasets.ocr + { entropy_weight: 1 }, st.methods.seal_dynamic_nce)
