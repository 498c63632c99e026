// Brown part of speech (data/brown-pos, first 5,000 training sentences), words + characters +
// BiLSTM; implicit training of the energy (docs/methods.md) with the SSVM margin loss as the primary loss.
local st = import 'sequence_tagging.libsonnet';
st.config(st.datasets.brown_pos, st.methods.implicit_energy_ssvm)
