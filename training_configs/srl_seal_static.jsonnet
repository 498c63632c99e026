// Semantic role labelling, seal_static_nce: `allennlp train training_configs/srl_seal_static.jsonnet -s OUT --include-package seal`.
// TRANSFORMER_MODEL (environment) names the pretrained transformer: a model name or a local
// directory, e.g. TRANSFORMER_MODEL=$(.venv/bin/python scripts/minilm_dir.py) for all-MiniLM-L6-v2.
// Data: OntoNotes 5.0 .gold_conll directories (srl/srl.libsonnet); on the shipped fixtures, add
//   -o '{"train_data_path": "fixtures/srl/train", "validation_data_path": "fixtures/srl/dev", "test_data_path": "fixtures/srl/test"}'
local srl = import 'srl/srl.libsonnet';
srl.config(srl.task(std.extVar('TRANSFORMER_MODEL')), srl.methods.seal_static_nce)
