// Brown part of speech with the project's linear-chain CRF (seal/modules/task_nets/crf.py) trained
// by its log-likelihood (`cross-entropy` of a CRF task-net), on the features of
// brown_pos_cross_entropy.jsonnet (words + characters + BiLSTM as the unary potentials); the first
// 5,000 training sentences.  The log-likelihood is summed over the batch, as crf_tagger's: in the
// 4-epoch budget it trains faster than the per-sentence mean (chosen on dev:
// benchmarks/tuning/crf.md, section brown_crf_reduction).
local st = import 'sequence_tagging.libsonnet';
st.config(st.with_crf(st.datasets.brown_pos), st.methods.crf_objective({ type: 'cross-entropy', reduction: 'sum' }))
