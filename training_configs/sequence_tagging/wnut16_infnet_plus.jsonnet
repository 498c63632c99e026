// WNUT-16 NER (data/wnut16, BIO tags read as BIOUL), words + characters + BiLSTM; InfNet+
// (docs/methods.md).
local st = import 'sequence_tagging.libsonnet';
st.config(st.datasets.wnut16, st.methods.infnet_plus)
