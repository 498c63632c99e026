// Brown part of speech, SEAL-dynamic NCE with the project's linear-chain CRF as its task-net: NCE
// draws its samples from the CRF and the energy scores the CRF's marginals (docs/crf.md).  The
// CRF's unary potentials and the loss-net's features are those of brown_pos_seal_dynamic_nce.jsonnet
// (words + characters + BiLSTM); the first 5,000 training sentences.
local st = import 'sequence_tagging.libsonnet';
st.config(st.with_crf(st.datasets.brown_pos), st.methods.seal_dynamic_nce)
