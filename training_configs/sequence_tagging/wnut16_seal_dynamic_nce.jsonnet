// WNUT-16 NER (data/wnut16, BIO tags read as BIOUL), words + characters + BiLSTM.
// NCE noise samples at temperature 0.5 (near the task-net's prediction): chosen on dev,
// benchmarks/tuning/wnut16.md, section wnut16_seal_nce_temperature
local st = import 'sequence_tagging.libsonnet';
st.config(st.datasets.wnut16, st.methods.seal_dynamic_nce) + {
  model+: { score_nn_loss+: { temperature: 0.5 } },
}
