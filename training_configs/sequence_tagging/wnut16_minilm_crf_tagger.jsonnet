// WNUT-16 NER, the CRF peer of wnut16_minilm_*.jsonnet: allennlp-models' crf_tagger over the same
// frozen all-MiniLM-L6-v2 features + BiLSTM.  MINILM_DIR as in wnut16_minilm_seal_dynamic_nce.jsonnet.
local st = import 'sequence_tagging.libsonnet';
st.config(st.wnut16(st.embedders.transformer(std.extVar('MINILM_DIR'))), st.methods.crf_tagger)
