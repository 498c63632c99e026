// Brown part of speech (data/brown-pos, 142 plain tags, no span scheme), words + characters + BiLSTM;
// trained on the first 5,000 training sentences (the dataset's train_instances).
local st = import 'sequence_tagging.libsonnet';
st.config(st.datasets.brown_pos, st.methods.seal_dynamic_nce)
