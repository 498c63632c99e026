// WNUT-16 NER (data/wnut16, BIO tags read as BIOUL) with the project's linear-chain CRF
// (seal/modules/task_nets/crf.py) trained by its log-likelihood (`cross-entropy` of a CRF
// task-net), on the features of wnut16_cross_entropy.jsonnet (words + characters + BiLSTM as the
// unary potentials); its Viterbi decoding is restricted to legal BIOUL sequences.
local st = import 'sequence_tagging.libsonnet';
st.config(st.with_crf(st.datasets.wnut16), st.methods.cross_entropy)
