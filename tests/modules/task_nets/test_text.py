import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, Instance, Token, Vocabulary
from allennlp.data.fields import TextField
from allennlp.data.token_indexers import PretrainedTransformerIndexer, SingleIdTokenIndexer

from seal.modules.task_nets import TaskNN, TextClassifierTaskNN

DOCUMENTS = [["a", "text", "editor", "for", "the", "console"], ["library"]]
LABELS = ["role::program", "use::editing", "devel::library"]


def batch(documents, indexers, vocab=None):
    instances = [Instance({"tokens": TextField([Token(w) for w in words], indexers)}) for words in documents]
    if vocab is None:
        vocab = Vocabulary.from_instances(instances)
        vocab.add_tokens_to_namespace(LABELS, "labels")
    tensors = Batch(instances)
    tensors.index_instances(vocab)
    return vocab, tensors.as_tensor_dict()


def light(seq2vec, **extra):
    return {
        "type": "text-classifier",
        "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 8}}},
        "seq2vec_encoder": seq2vec,
        **extra,
    }


def build(params, vocab):
    torch.manual_seed(0)
    return TaskNN.from_params(Params(params), vocab=vocab).eval()


@pytest.mark.parametrize(
    "seq2vec, feature_dim",
    [
        ({"type": "boe", "embedding_dim": 8, "averaged": True}, 8),
        ({"type": "lstm", "input_size": 8, "hidden_size": 5, "bidirectional": True}, 10),
        ({"type": "cnn", "embedding_dim": 8, "num_filters": 4, "ngram_filter_sizes": [1, 2]}, 8),
    ],
)
def test_light_task_nets_give_one_logit_per_label(seq2vec, feature_dim):
    vocab, tensors = batch(DOCUMENTS, {"tokens": SingleIdTokenIndexer()})
    net = build(light(seq2vec, dropout=0.1), vocab)
    assert isinstance(net, TextClassifierTaskNN)
    output = net(**tensors)
    assert output.logits.shape == (2, 3) and output.mask is None
    assert output.features.shape == (2, feature_dim)


@pytest.mark.parametrize("seq2vec", [{"type": "boe", "embedding_dim": 8, "averaged": True},
                                     {"type": "lstm", "input_size": 8, "hidden_size": 5}])
def test_padding_does_not_change_a_documents_logits(seq2vec):
    vocab, tensors = batch(DOCUMENTS, {"tokens": SingleIdTokenIndexer()})
    net = build(light(seq2vec), vocab)
    _, alone = batch(DOCUMENTS[1:], {"tokens": SingleIdTokenIndexer()}, vocab)
    torch.testing.assert_close(net(**alone).logits[0], net(**tensors).logits[1])


def test_a_batch_narrower_than_the_cnn_filters_is_refused_unless_padded():
    def cnn():
        return light({"type": "cnn", "embedding_dim": 8, "num_filters": 4, "ngram_filter_sizes": [2, 3]})

    vocab, short = batch([["vim"]], {"tokens": SingleIdTokenIndexer()})
    with pytest.raises(ConfigurationError, match="token_min_padding_length.: 3"):
        build(cnn(), vocab)(**short)
    _, padded = batch([["vim"]], {"tokens": SingleIdTokenIndexer(token_min_padding_length=3)}, vocab)
    assert build(cnn(), vocab)(**padded).logits.shape == (1, 3)


def test_mean_pooling_is_the_average_of_the_real_tokens_embeddings():
    vocab, tensors = batch(DOCUMENTS, {"tokens": SingleIdTokenIndexer()})
    net = build(light({"type": "boe", "embedding_dim": 8, "averaged": True}), vocab)
    embedded = net.text_field_embedder(tensors["tokens"])[0]  # (6, 8), no padding in document 0
    torch.testing.assert_close(net(**tensors).features[0], embedded.mean(0))


def test_a_pretrained_transformer_pooled_by_its_first_token(tmp_path):
    from scripts.tiny_bert import write_tiny_bert

    (tmp_path / "words.txt").write_text(" ".join(DOCUMENTS[0] + DOCUMENTS[1]))
    model = write_tiny_bert(str(tmp_path / "bert"), [str(tmp_path / "words.txt")], hidden=16)
    indexers = {"tokens": PretrainedTransformerIndexer(model)}
    from allennlp.data.tokenizers import PretrainedTransformerTokenizer

    tokenizer = PretrainedTransformerTokenizer(model)
    documents = [[t.text for t in tokenizer.tokenize(" ".join(words))] for words in DOCUMENTS]
    vocab, tensors = batch(documents, indexers)
    params = {
        "type": "text-classifier",
        "text_field_embedder": {"token_embedders": {"tokens": {"type": "pretrained_transformer", "model_name": model}}},
        "seq2vec_encoder": {"type": "cls_pooler", "embedding_dim": 16},
    }
    net = build(params, vocab)
    output = net(**tensors)
    assert output.logits.shape == (2, 3) and output.features.shape == (2, 16)
    _, alone = batch(documents[1:], indexers, vocab)
    torch.testing.assert_close(net(**alone).logits[0], output.logits[1], atol=1e-5, rtol=1e-4)


def test_dimension_mismatch_names_the_stage():
    vocab, _ = batch(DOCUMENTS, {"tokens": SingleIdTokenIndexer()})
    with pytest.raises(ConfigurationError, match="seq2vec_encoder's input dimension is 7"):
        build(light({"type": "boe", "embedding_dim": 7}), vocab)
    with pytest.raises(ConfigurationError, match="feedforward's input dimension"):
        build(light({"type": "boe", "embedding_dim": 8},
                    feedforward={"input_dim": 5, "num_layers": 1, "hidden_dims": 4, "activations": "relu"}), vocab)


def test_an_empty_label_namespace_is_refused():
    vocab, _ = batch(DOCUMENTS, {"tokens": SingleIdTokenIndexer()})
    with pytest.raises(ConfigurationError, match="no labels in namespace 'topic_labels'"):
        build(light({"type": "boe", "embedding_dim": 8}, label_namespace="topic_labels"), vocab)
