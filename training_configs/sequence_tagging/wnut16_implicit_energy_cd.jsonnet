// WNUT-16 NER (data/wnut16, BIO tags read as BIOUL), words + characters + BiLSTM; implicit training
// of the energy (docs/methods.md) with contrastive divergence as the loss-net's primary loss.
local st = import 'sequence_tagging.libsonnet';
st.config(st.datasets.wnut16, st.methods.implicit_energy_cd)
