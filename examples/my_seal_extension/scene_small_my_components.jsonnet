// SEAL-dynamic (DVN loss-net) on the small scene fixture, with the two components registered by
// the user package `examples.my_seal_extension` (not part of seal).  Run from the repository root:
//   allennlp train examples/my_seal_extension/scene_small_my_components.jsonnet -s runs/my_components \
//     --include-package seal --include-package examples.my_seal_extension
local ml = import '../../training_configs/multilabel/multilabel.libsonnet';

// The fields of a dataset that `multilabel.libsonnet` reads (paths relative to the repository root).
local dataset = {
  train: 'fixtures/arff/scene_small/scene-train.arff',
  dev: 'fixtures/arff/scene_small/scene-dev.arff',
  test: 'fixtures/arff/scene_small/scene-test.arff',
  num_features: 294,
  hidden_dim: 32,
  dropout: 0.1,
  batch_size: 8,
  num_epochs: 2,
  patience: 2,
  score_hidden_dim: 16,  // read only by ml.score_nn, which this method does not use
};

// A method: the model (given the dataset) and the per-module optimizers of the `seal` trainer.
local method = {
  model(dataset):: {
    type: 'seal-dynamic',
    task_nn: ml.task_nn(dataset),
    score_nn: {
      task_nn: ml.task_nn(dataset),  // the score-net's own feature network (local score)
      global_score: { type: 'my-label-count' },  // <- registered by examples.my_seal_extension
    },
    score_nn_loss: {
      type: 'dvn',
      sampler: {
        type: 'multi',
        samplers: [{ type: 'task-net' }, { type: 'my-noisy-gold', num_samples: 4 }],  // <- ours
      },
    },
    task_nn_loss: {
      type: 'weighted-sum',
      losses: [{ type: 'energy' }, { type: 'cross-entropy' }],
      weights: [1.0, 1.0],
    },
  },
  optimizers: { task_nn: ml.adam(1e-3), score_nn: ml.adam(1e-3) },
};

ml.config(dataset, method)
