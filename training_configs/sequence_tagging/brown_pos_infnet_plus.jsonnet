// Brown part of speech (data/brown-pos, first 5,000 training sentences), words + characters +
// BiLSTM; InfNet+ (docs/methods.md).
local st = import 'sequence_tagging.libsonnet';
st.config(st.datasets.brown_pos, st.methods.infnet_plus)
