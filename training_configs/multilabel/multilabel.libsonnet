// Shared pieces of the feature-based multi-label configs.  A config picks a dataset and a method:
//   local ml = import 'multilabel.libsonnet';
//   ml.config(ml.datasets.scene, ml.methods.seal_dynamic_nce)
// Data paths are relative to the directory `allennlp` runs in (the repository root) and can be
// overridden with -o '{"train_data_path": ..., "validation_data_path": ..., "test_data_path": ...}'.
// Seeds: -o '{"random_seed": S, "numpy_seed": S, "pytorch_seed": S}'.
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
      // Loss-net updates per task-net update in SEAL-dynamic: 3 beat 1 and a larger loss-net
      // learning rate here (benchmarks/tuning/).
      score_steps: 3,
    },
    'debtags-bow': {
      train: '../shared/data/debtags-bow/debtags-bow-train.arff',
      dev: '../shared/data/debtags-bow/debtags-bow-dev.arff',
      test: '../shared/data/debtags-bow/debtags-bow-test.arff',
      num_features: 2000,
      hidden_dim: 500,
      dropout: 0.5,
      batch_size: 64,
      num_epochs: 30,
      patience: 5,
      score_hidden_dim: 200,
      // One loss-net update per batch: each costs a forward and backward pass of the 2000->500
      // feature network (3 updates made an epoch ~7x a cross-entropy epoch here).
      score_steps: 1,
      // The energy is divided by the number of labels, cross-entropy's scale: summed over 379
      // labels it outweighed cross-entropy 379 to 1 and the task-net collapsed (test F1 0.04).
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

  score_nn(dataset):: {
    task_nn: $.task_nn(dataset),
    global_score: { type: 'label-mlp', hidden_dim: dataset.score_hidden_dim, activation: 'softplus' },
  },

  adam(lr, weight_decay=1e-5):: { type: 'adamw', lr: lr, weight_decay: weight_decay },

  // A method: the model (given the dataset), the trainer's per-module optimizers and updates per
  // batch, and optionally `trainer`, fields that replace the trainer's defaults.
  methods: {
    cross_entropy: {
      model(dataset):: { type: 'cross-entropy', task_nn: $.task_nn(dataset) },
      optimizers: { task_nn: $.adam(1e-3) },
    },
    seal_dynamic(score_nn_loss, cross_entropy_weight=1.0):: {
      model(dataset):: {
        type: 'seal-dynamic',
        task_nn: $.task_nn(dataset),
        score_nn: $.score_nn(dataset),
        score_nn_loss: score_nn_loss,
        task_nn_loss: {
          type: 'weighted-sum',
          losses: [
            { type: 'energy', normalize: std.objectHas(dataset, 'normalize_energy') && dataset.normalize_energy },
            { type: 'cross-entropy' },
          ],
          weights: [1.0, cross_entropy_weight],
        },
      },
      optimizers: { task_nn: $.adam(1e-3), score_nn: $.adam(1e-3) },
      num_steps(dataset):: { score_nn: dataset.score_steps, task_nn: 1 },
    },
    seal_dynamic_nce: self.seal_dynamic({ type: 'nce-ranking', num_samples: 10 }),
    seal_dynamic_dvn: self.seal_dynamic({ type: 'dvn' }),
    seal_dynamic_ssvm: self.seal_dynamic({ type: 'margin' }),
    seal_static_nce: {
      model(dataset):: $.methods.seal_dynamic_nce.model(dataset) + {
        type: 'seal-static',
        pretraining_epochs: std.floor(dataset.num_epochs / 3),
      },
      optimizers: $.methods.seal_dynamic_nce.optimizers,
      num_steps(dataset):: $.methods.seal_dynamic_nce.num_steps(dataset),
    },
    spen: {
      model(dataset):: { type: 'spen', score_nn: $.score_nn(dataset) },
      optimizers: { score_nn: $.adam(1e-3) },
    },
    dvn: {
      model(dataset):: { type: 'dvn', score_nn: $.score_nn(dataset) },
      optimizers: { score_nn: $.adam(1e-3) },
    },
    infnet: {
      model(dataset):: {
        type: 'infnet',
        task_nn: $.task_nn(dataset),
        score_nn: $.score_nn(dataset),
        cross_entropy_weight: 1.0,
        game_epochs: std.floor(dataset.num_epochs / 2),
      },
      optimizers: { task_nn: $.adam(1e-3), score_nn: $.adam(1e-3) },
      // Validation during the game scores the cost-augmented network: no early stopping then.
      trainer: { patience: null },
    },
  },

  config(dataset, method):: {
    dataset_reader: { type: 'arff', num_features: dataset.num_features },
    train_data_path: dataset.train,
    validation_data_path: dataset.dev,
    test_data_path: dataset.test,
    evaluate_on_test: true,
    model: method.model(dataset),
    data_loader: { batch_size: dataset.batch_size, shuffle: true },
    validation_data_loader: { batch_size: 256, shuffle: false },
    trainer: {
      type: 'seal',
      optimizers: method.optimizers,
      [if std.objectHasAll(method, 'num_steps') then 'num_steps']: method.num_steps(dataset),
      grad_norm: { [name]: 10.0 for name in std.objectFields(method.optimizers) },
      num_epochs: dataset.num_epochs,
      patience: dataset.patience,
      validation_metric: '+example_f1',
      callbacks: [{ type: 'tensorboard' }],
    } + (if std.objectHas(method, 'trainer') then method.trainer else {}),
  },
}
