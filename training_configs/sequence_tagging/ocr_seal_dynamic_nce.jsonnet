// Handwritten words (data/ocr/letter.data.gz): train folds 2-9, dev 1, test 0.
// entropy_weight 1 (the task-net minimises the free energy E_q[-s] - H(q)): chosen on dev,
// benchmarks/tuning/ocr.md, section ocr_seal_nce_round1
local st = import 'sequence_tagging.libsonnet';
st.config(st.datasets.ocr + { entropy_weight: 1 }, st.methods.seal_dynamic_nce)
