// The methods every task shares, and the config they build.  A task (see
// multilabel/multilabel.libsonnet and sequence_tagging/sequence_tagging.libsonnet) is an object with
//   reader, train, dev, test          the dataset reader and data paths
//   batch_size, num_epochs, patience, validation_metric
//   task_nn, score_nn                 the task-net and the loss-net's ScoreNN
//   model_extras                      fields every model of the task gets (output_space, label_field)
//   score_steps                       loss-net updates per task-net update in SEAL-dynamic and implicit-energy
//   normalize_energy                  divide the energy by the number of decisions
//   cross_entropy_weight (optional)   of the task-net's cross-entropy beside the energy in SEAL
//   entropy_weight (optional)         tau of a `negative-entropy` term in SEAL's task-net loss
//                                     (the free energy E_q[-s] - tau H(q)); default 0, no term
//   optimizer (optional)              every trained module's optimizer instead of the method's
//   scheduler (optional)              a learning-rate scheduler for every trained module
//   moving_average (optional)         AllenNLP's parameter averaging; validation, best.th and the
//                                     final model use the averaged weights
//   vocabulary (optional)             AllenNLP's vocabulary options
//   oracle (optional)                 the oracle of margin, dvn, spen and infnet (the models' default: f1)
// A method is { model(task)::, optimizers, num_steps(task):: (optional), trainer (optional) }, or,
// for a plain AllenNLP model trained by AllenNLP's own trainer, { model(task)::, plain_optimizer }.
{
  adam(lr, weight_decay=1e-5):: { type: 'adamw', lr: lr, weight_decay: weight_decay },

  local with_oracle(task, object) = object + (if std.objectHas(task, 'oracle') then { oracle: task.oracle } else {}),

  methods: {
    cross_entropy: {
      model(task):: task.model_extras + { type: 'cross-entropy', task_nn: task.task_nn },
      optimizers: { task_nn: $.adam(1e-3) },
    },
    seal_dynamic(score_nn_loss, cross_entropy_weight=1.0):: {
      model(task):: task.model_extras + {
        type: 'seal-dynamic',
        task_nn: task.task_nn,
        score_nn: task.score_nn,
        score_nn_loss: if std.member(['margin', 'dvn'], score_nn_loss.type) then with_oracle(task, score_nn_loss)
                       else score_nn_loss,
        local entropy_weight = if std.objectHas(task, 'entropy_weight') then task.entropy_weight else 0,
        task_nn_loss: {
          type: 'weighted-sum',
          losses: [{ type: 'energy', normalize: task.normalize_energy }, { type: 'cross-entropy' }]
                  + (if entropy_weight != 0 then [{ type: 'negative-entropy' }] else []),
          weights: [1.0, if std.objectHas(task, 'cross_entropy_weight') then task.cross_entropy_weight else cross_entropy_weight]
                   + (if entropy_weight != 0 then [entropy_weight] else []),
          // For the first 10 epochs the energy's gradient never points against cross-entropy's and is
          // at most as large, per example (see WeightedSumLoss): a young loss-net cannot collapse the task-net.
          anchor: 1,
          anchor_epochs: 10,
        },
      },
      optimizers: { task_nn: $.adam(1e-3), score_nn: $.adam(1e-3) },
      num_steps(task):: { score_nn: task.score_steps, task_nn: 1 },
    },
    seal_dynamic_nce: self.seal_dynamic({ type: 'nce-ranking', num_samples: 10 }),
    seal_dynamic_dvn: self.seal_dynamic({ type: 'dvn' }),
    seal_dynamic_ssvm: self.seal_dynamic({ type: 'margin' }),
    // Implicit (bi-level) training of the energy (seal/models/implicit.py): SEAL-dynamic's task-net
    // step is the inner problem (`inner_steps` of it per batch, run first), and the loss-net minimises
    // `primary_loss` by the implicit hypergradient (`hypergradient`: ImplicitHypergradient's settings).
    implicit_energy(primary_loss, hypergradient={}, inner_steps=1):: {
      model(task):: $.methods.seal_dynamic(primary_loss).model(task) + {
        type: 'implicit-energy',
        score_nn_loss: if std.member(['margin', 'dvn', 'contrastive-divergence'], primary_loss.type)
                       then with_oracle(task, primary_loss) else primary_loss,
        [if std.length(hypergradient) > 0 then 'hypergradient']: hypergradient,
      },
      optimizers: { task_nn: $.adam(1e-3), score_nn: $.adam(1e-3) },
      // the loss-net takes the task's `score_steps` per batch, as in SEAL-dynamic: with one, its young
      // energy drives the task-net to a constant output on scene (benchmarks/tuning/seal_collapse_mechanism.md)
      num_steps(task):: { task_nn: inner_steps, score_nn: task.score_steps },
    },
    implicit_energy_cd: self.implicit_energy({ type: 'contrastive-divergence' }),
    implicit_energy_nce: self.implicit_energy({ type: 'nce-ranking', num_samples: 10 }),
    implicit_energy_ssvm: self.implicit_energy({ type: 'margin' }),
    seal_static_nce: {
      model(task):: $.methods.seal_dynamic_nce.model(task) + {
        type: 'seal-static',
        pretraining_epochs: std.floor(task.num_epochs / 3),
      },
      optimizers: $.methods.seal_dynamic_nce.optimizers,
      num_steps(task):: $.methods.seal_dynamic_nce.num_steps(task),
    },
    spen: {
      model(task):: with_oracle(task, task.model_extras + { type: 'spen', score_nn: task.score_nn }),
      optimizers: { score_nn: $.adam(1e-3) },
    },
    dvn: {
      model(task):: with_oracle(task, task.model_extras + { type: 'dvn', score_nn: task.score_nn }),
      optimizers: { score_nn: $.adam(1e-3) },
    },
    // The game runs for half the task's epochs, then the test-time network gets the task's whole
    // budget.  The cross-entropy guard keeps the cost-augmented player from being driven far from
    // the gold (see `infnet` in seal/models/variants.py; benchmarks/tuning/infnet.md).
    infnet: {
      game_epochs(task):: std.floor(task.num_epochs / 2),
      model(task):: with_oracle(task, task.model_extras + {
        type: 'infnet',
        task_nn: task.task_nn,
        score_nn: task.score_nn,
        cross_entropy_weight: 1.0,
        guard: true,
        game_epochs: $.methods.infnet.game_epochs(task),
      }),
      optimizers: { task_nn: $.adam(1e-3), score_nn: $.adam(1e-3) },
      // Validation during the game scores the cost-augmented network: no early stopping then.
      trainer: { patience: null },
    },
    // InfNet+ (seal/models/infnet_plus.py): the energy, a cost-augmented and a test-time inference
    // network trained jointly for the task's epochs, the two networks sharing all but their output
    // layer (the module cost_augmented_nn holds the cost-augmented one).  The test-time network is
    // validated and predicts.  The guard as in infnet.
    infnet_plus: {
      model(task):: with_oracle(task, task.model_extras + {
        type: 'infnet-plus',
        task_nn: task.task_nn,
        score_nn: task.score_nn,
        perceptron_weight: 1.0,
        cross_entropy_weight: 1.0,
        guard: true,
      }),
      optimizers: { task_nn: $.adam(1e-3), cost_augmented_nn: $.adam(1e-3), score_nn: $.adam(1e-3) },
    },
  },

  config(task, method)::
    local optimizers = if std.objectHas(task, 'optimizer') && std.objectHas(method, 'optimizers')
    then { [name]: task.optimizer for name in std.objectFields(method.optimizers) }
    else if std.objectHas(method, 'optimizers') then method.optimizers else {};
    // Atomic saves, and --recover from the newest intact checkpoint (seal/training/checkpointer.py);
    // overrides such as -o '{"trainer.checkpointer.save_every_num_batches": 100}' keep the type.
    local checkpointer = { type: 'seal' };
    // `bucket_by` (a list of field names): batches of similar lengths, so that little padding is run.
    local loader(batch_size, shuffle) = if std.objectHas(task, 'bucket_by')
    then { batch_sampler: { type: 'bucket', batch_size: batch_size, sorting_keys: task.bucket_by, shuffle: shuffle } }
    else { batch_size: batch_size, shuffle: shuffle };
    {
    dataset_reader: task.reader,
    train_data_path: task.train,
    validation_data_path: task.dev,
    test_data_path: task.test,
    evaluate_on_test: true,
    // `allennlp evaluate` prints its metrics (seal/evaluation.py); `allennlp train` ignores this key.
    evaluation: { type: 'seal' },
    [if std.objectHas(task, 'vocabulary') then 'vocabulary']: task.vocabulary,
    model: method.model(task),
    data_loader: loader(task.batch_size, shuffle=true),
    validation_data_loader: loader(256, shuffle=false),
    trainer: if std.objectHas(method, 'plain_optimizer') then {
      type: 'gradient_descent',
      optimizer: method.plain_optimizer,
      grad_norm: 10.0,
      [if std.objectHas(task, 'moving_average') then 'moving_average']: task.moving_average,
      num_epochs: task.num_epochs,
      patience: task.patience,
      validation_metric: task.validation_metric,
      checkpointer: checkpointer,
      callbacks: [{ type: 'tensorboard' }],
    } else {
      type: 'seal',
      optimizers: optimizers,
      [if std.objectHas(task, 'scheduler') then 'learning_rate_schedulers']:
        { [name]: task.scheduler for name in std.objectFields(optimizers) },
      [if std.objectHasAll(method, 'num_steps') then 'num_steps']: method.num_steps(task),
      grad_norm: { [name]: 10.0 for name in std.objectFields(optimizers) },
      [if std.objectHas(task, 'moving_average') then 'moving_average']: task.moving_average,
      // a method with a first phase of its own (infnet's game) adds it to the task's epochs
      num_epochs: task.num_epochs + (if std.objectHasAll(method, 'game_epochs') then method.game_epochs(task) else 0),
      patience: task.patience,
      validation_metric: task.validation_metric,
      checkpointer: checkpointer,
      callbacks: [{ type: 'tensorboard' }],
    } + (if std.objectHas(method, 'trainer') then method.trainer else {}),
  },
}
