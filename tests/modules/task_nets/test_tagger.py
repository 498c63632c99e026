import copy

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, Instance, Token, Vocabulary
from allennlp.data.fields import ArrayField, ListField, TextField
from allennlp.data.token_indexers import SingleIdTokenIndexer, TokenCharactersIndexer

from seal.modules.task_nets import LetterCNNTaskNN, TaggerTaskNN, TaskNN


def vocab_and_batch(sentences, vocab=None):
    indexers = {"tokens": SingleIdTokenIndexer(), "chars": TokenCharactersIndexer(min_padding_length=3)}
    instances = [Instance({"tokens": TextField([Token(w) for w in words], indexers)}) for words in sentences]
    if vocab is None:
        vocab = Vocabulary.from_instances(instances)
        vocab.add_tokens_to_namespace(["O", "B-PER", "I-PER"], "labels")
    batch = Batch(instances)
    batch.index_instances(vocab)
    return vocab, batch.as_tensor_dict()


TAGGER = {
    "type": "tagger",
    "text_field_embedder": {
        "token_embedders": {
            "tokens": {"type": "embedding", "embedding_dim": 6},
            "chars": {
                "type": "character_encoding",
                "embedding": {"embedding_dim": 4, "vocab_namespace": "token_characters"},
                "encoder": {"type": "cnn", "embedding_dim": 4, "num_filters": 5, "ngram_filter_sizes": [2, 3]},
            },
        }
    },
    "encoder": {"type": "lstm", "input_size": 16, "hidden_size": 4, "bidirectional": True},
    "feedforward": {"input_dim": 8, "num_layers": 1, "hidden_dims": 7, "activations": "relu"},
}


def test_tagger_with_character_cnn_and_bilstm_gives_masked_logits_per_token():
    vocab, tensors = vocab_and_batch([["John", "lives", "here"], ["Mary"]])
    torch.manual_seed(0)
    tagger = TaskNN.from_params(Params(copy.deepcopy(TAGGER)), vocab=vocab)
    assert isinstance(tagger, TaggerTaskNN)
    tagger.eval()
    output = tagger(**tensors)
    assert output.logits.shape == (2, 3, 3)
    assert output.mask.tolist() == [[True, True, True], [True, False, False]]
    assert output.features.shape == (2, 3, 7)
    # padding never changes the real tokens' logits: "Mary" alone gives the same logits
    _, alone = vocab_and_batch([["Mary"]], vocab)
    torch.testing.assert_close(tagger(**alone).logits[0, 0], output.logits[1, 0])


def test_tagger_dimension_mismatch_is_a_configuration_error():
    vocab, _ = vocab_and_batch([["a"]])
    bad = {**copy.deepcopy(TAGGER), "encoder": {"type": "lstm", "input_size": 15, "hidden_size": 4}}
    with pytest.raises(ConfigurationError, match="input_dim"):
        TaskNN.from_params(Params(bad), vocab=vocab)


def ocr_batch(words):
    instances = [
        Instance({
            "images": ListField([ArrayField(torch.rand(16, 8).round()) for _ in range(length)]),
            "letter_mask": ArrayField(torch.ones(length, dtype=torch.bool), padding_value=0, dtype=torch.bool),
        })
        for length in words
    ]
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(list("abcdefghijklmnopqrstuvwxyz"), "labels")
    batch = Batch(instances)
    batch.index_instances(vocab)
    return vocab, batch.as_tensor_dict()


@pytest.mark.parametrize("encoder", [None, {"type": "lstm", "input_size": 32, "hidden_size": 8, "bidirectional": True}])
def test_letter_cnn_scores_every_letter(encoder):
    torch.manual_seed(0)
    vocab, tensors = ocr_batch([4, 2])
    params = {"type": "letter-cnn", "conv_channels": [3, 5], "hidden_dim": 32}
    if encoder:
        params["encoder"] = encoder
    net = TaskNN.from_params(Params(params), vocab=vocab)
    assert isinstance(net, LetterCNNTaskNN)
    net.eval()
    output = net(**tensors)
    assert output.logits.shape == (2, 4, 26)
    assert output.mask.tolist() == [[True] * 4, [True, True, False, False]]
    # the second word alone: same logits at its letters
    alone = {"images": tensors["images"][1:, :2], "letter_mask": tensors["letter_mask"][1:, :2]}
    torch.testing.assert_close(net(**alone).logits[0], output.logits[1, :2])
    with pytest.raises(ConfigurationError, match="16, 8"):
        net(images=torch.zeros(1, 2, 8, 16), letter_mask=torch.ones(1, 2, dtype=torch.bool))


# ---- the predicate indicator (SRL) ------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    from scripts.tiny_bert import write_tiny_bert

    directory = tmp_path_factory.mktemp("tiny_bert")
    (directory / "words.txt").write_text("the cat chased small mice")  # other words: letter pieces
    return write_tiny_bert(str(directory / "model"), [str(directory / "words.txt")], hidden=16)


def srl_batch(model_dir, sentences, verbs, vocab=None):
    from allennlp.data.fields import SequenceLabelField
    from allennlp.data.token_indexers import PretrainedTransformerMismatchedIndexer

    indexers = {"tokens": PretrainedTransformerMismatchedIndexer(model_dir)}
    instances = []
    for words, verb in zip(sentences, verbs):
        text = TextField([Token(w) for w in words], indexers)
        indicator = SequenceLabelField([int(i == verb) for i in range(len(words))], text)
        instances.append(Instance({"tokens": text, "verb_indicator": indicator}))
    if vocab is None:
        vocab = Vocabulary.from_instances(instances)
        vocab.add_tokens_to_namespace(["O", "B-V", "B-ARG0"], "labels")
    batch = Batch(instances)
    batch.index_instances(vocab)
    return vocab, batch.as_tensor_dict()


def srl_tagger(model_dir, vocab, **extra):
    params = {
        "type": "tagger",
        "text_field_embedder": {
            "token_embedders": {"tokens": {"type": "pretrained_transformer_mismatched", "model_name": model_dir}}
        },
        "indicator_field": "verb_indicator",
        **extra,
    }
    torch.manual_seed(0)
    return TaskNN.from_params(Params(params), vocab=vocab).eval()


def test_the_predicate_sets_the_type_ids_of_its_wordpieces(tiny_bert):
    from seal.modules.task_nets.tagger import _with_indicator_type_ids

    # "unbelievably" splits into several wordpieces; all of them, and nothing else, get type 1.
    vocab, tensors = srl_batch(tiny_bert, [["the", "unbelievably", "cat"], ["mice"]], [1, 0])
    tokens = _with_indicator_type_ids(tensors["tokens"], "tokens", tensors["verb_indicator"])
    offsets = tensors["tokens"]["tokens"]["offsets"][0]
    start, end = offsets[1].tolist()
    assert end > start  # really several wordpieces
    expected = [int(start <= p <= end) for p in range(tokens["tokens"]["type_ids"].size(1))]
    assert tokens["tokens"]["type_ids"][0].tolist() == expected
    assert tokens["tokens"]["type_ids"][1].tolist()[:3] == [0, 1, 0]  # [CLS] mice [SEP]
    assert tensors["tokens"]["tokens"]["type_ids"].sum() == 0  # the batch itself is not modified


def test_the_tagger_reads_which_word_is_the_predicate(tiny_bert):
    words = [["the", "cat", "chased", "small", "mice"]] * 2
    vocab, tensors = srl_batch(tiny_bert, words, [2, 4])
    for mode in ("type_ids", "embedding"):
        output = srl_tagger(tiny_bert, vocab, indicator_mode=mode, indicator_dim=4)(**tensors)
        assert output.logits.shape == (2, 5, 3)
        assert not torch.allclose(output.logits[0], output.logits[1])  # same words, other predicate
    without = srl_tagger(tiny_bert, vocab, indicator_field=None)(**tensors)
    torch.testing.assert_close(without.logits[0], without.logits[1])


def test_indicator_options_are_checked(tiny_bert):
    vocab, tensors = srl_batch(tiny_bert, [["the", "cat"]], [1])
    with pytest.raises(ConfigurationError, match="indicator_mode"):
        srl_tagger(tiny_bert, vocab, indicator_mode="flag")
    with pytest.raises(ConfigurationError, match="pretrained_transformer_mismatched"):
        TaskNN.from_params(Params({**copy.deepcopy(TAGGER), "indicator_field": "verb_indicator"}), vocab=vocab)
    with pytest.raises(ConfigurationError, match="verb_indicator"):
        srl_tagger(tiny_bert, vocab)(tokens=tensors["tokens"])
