// The feature-based multi-label task (ARFF data, an MLP task-net, SPEN's label energy) for the
// methods of ../seal.libsonnet.  A config picks a dataset and a method:
//   local ml = import 'multilabel.libsonnet';
//   ml.config(ml.datasets.scene, ml.methods.seal_dynamic_nce)
// Data paths (data/README.md) are relative to the directory `allennlp` runs in (the repository
// root); other files: -o '{"train_data_path": ..., "validation_data_path": ..., "test_data_path": ...}'.
// Seeds: -o '{"random_seed": S, "numpy_seed": S, "pytorch_seed": S}'.
local seal = import '../seal.libsonnet';

{
  datasets: {
    scene: {
      train: 'data/scene/scene-train.arff.gz',
      dev: 'data/scene/scene-dev.arff.gz',
      test: 'data/scene/scene-test.arff.gz',
      num_features: 294,
      hidden_dim: 300,
      dropout: 0.3,
      batch_size: 32,
      num_epochs: 60,
      patience: 12,
      score_hidden_dim: 100,
      // score_steps 3 (loss-net updates per task-net update): chosen on dev,
      // benchmarks/tuning/scene.md, section scene_seal_nce_round3
      score_steps: 3,
    },
    'debtags-bow': {
      train: 'data/debtags-bow/debtags-bow-train.arff.gz',
      dev: 'data/debtags-bow/debtags-bow-dev.arff.gz',
      test: 'data/debtags-bow/debtags-bow-test.arff.gz',
      num_features: 2000,
      hidden_dim: 500,
      dropout: 0.5,
      batch_size: 64,
      num_epochs: 30,
      patience: 5,
      score_hidden_dim: 200,
      // score_steps 1: each loss-net update costs a forward and backward pass of the 2000->500 net.
      score_steps: 1,
      // Energy per label, on cross-entropy's scale: summed over 379 labels it swamps cross-entropy.
      normalize_energy: true,
    },
  },

  task_nn(dataset):: {
    type: 'feedforward',
    feedforward: {
      input_dim: dataset.num_features,
      num_layers: 2,
      hidden_dims: dataset.hidden_dim,
      activations: 'softplus',
      dropout: dataset.dropout,
    },
    dropout: dataset.dropout,
  },

  task(dataset):: dataset {
    reader: { type: 'arff', num_features: dataset.num_features },
    validation_metric: '+example_f1',
    model_extras: {},
    task_nn: $.task_nn(dataset),
    score_nn: {
      task_nn: $.task_nn(dataset),
      global_score: { type: 'label-mlp', hidden_dim: dataset.score_hidden_dim, activation: 'softplus' },
    },
    normalize_energy: std.objectHas(dataset, 'normalize_energy') && dataset.normalize_energy,
  },

  methods: seal.methods,
  adam:: seal.adam,

  config(dataset, method):: seal.config($.task(dataset), method),
}
