from typing import Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import TextFieldTensors, Vocabulary
from allennlp.modules import FeedForward, Seq2SeqEncoder, TextFieldEmbedder
from allennlp.modules.token_embedders import PretrainedTransformerMismatchedEmbedder
from allennlp.nn.util import get_text_field_mask

from seal.modules.task_nets.task_nn import TaskNN, TaskOutput, output_size


class _PositionwiseTagger(TaskNN):
    """Shared tail of the sequence task-nets: an optional contextual encoder and feedforward over
    per-position vectors, then one logit per tag at every position."""

    def __init__(
        self,
        vocab: Vocabulary,
        input_dim: int,
        encoder: Optional[Seq2SeqEncoder],
        feedforward: Optional[FeedForward],
        dropout: float,
        label_namespace: str,
    ) -> None:
        super().__init__()
        num_tags = output_size(vocab, label_namespace)
        if encoder is not None and encoder.get_input_dim() != input_dim:
            raise ConfigurationError(
                f"{type(self).__name__}: the encoder's input_dim is {encoder.get_input_dim()}, "
                f"but its inputs have dimension {input_dim}"
            )
        dim = encoder.get_output_dim() if encoder is not None else input_dim
        if feedforward is not None and feedforward.get_input_dim() != dim:
            raise ConfigurationError(
                f"{type(self).__name__}: the feedforward's input_dim is {feedforward.get_input_dim()}, expected {dim}"
            )
        self.encoder = encoder
        self.feedforward = feedforward
        self.dropout = torch.nn.Dropout(dropout)
        self.tag_layer = torch.nn.Linear(feedforward.get_output_dim() if feedforward else dim, num_tags)

    def tag(self, vectors: torch.Tensor, mask: torch.BoolTensor) -> TaskOutput:
        """`vectors` `(batch, seq_len, input_dim)` -> logits `(batch, seq_len, num_tags)`."""
        features = self.dropout(vectors)
        if self.encoder is not None:
            features = self.dropout(self.encoder(features, mask))
        if self.feedforward is not None:
            features = self.feedforward(features)
        return TaskOutput(self.tag_layer(features), mask, features)


@TaskNN.register("tagger")
class TaggerTaskNN(_PositionwiseTagger):
    """A sequence tagger: `TextFieldEmbedder` -> optional `Seq2SeqEncoder` (BiLSTM, transformer)
    -> optional `FeedForward` -> one logit per tag at every token.

    Input field `tokens` (`TextFieldTensors`; any indexers, e.g. single ids plus a character CNN,
    or a pretrained transformer's wordpieces pooled to words with the `pretrained_transformer_
    mismatched` embedder).  Output: logits `(batch, seq_len, num_tags)`, the token mask
    `(batch, seq_len)`, and the last per-token representation as `features`.

    Optionally a 0/1 indicator per token (`indicator_field`, e.g. the predicate of an SRL frame,
    AllenNLP's `verb_indicator` `(batch, seq_len)`) tells the tagger which position the tags are
    about: as the token type ids of that word's wordpieces (`indicator_mode="type_ids"`, the way
    of allennlp-models' `srl_bert`; needs a `pretrained_transformer_mismatched` embedder), or as a
    learned embedding concatenated to every token's vector (`"embedding"`, any embedder).

    # Parameters
    vocab : `Vocabulary`
    text_field_embedder : `TextFieldEmbedder`
    encoder : `Seq2SeqEncoder`, optional
    feedforward : `FeedForward`, optional
    dropout : `float`, optional (default = `0.0`)
        Applied to the embeddings and to the encoder's output.
    label_namespace : `str`, optional (default = `"labels"`)
    tokens_field : `str`, optional (default = `"tokens"`)
        The name of the instance's `TextField`.
    indicator_field : `str`, optional (default = `None`)
    indicator_mode : `str`, optional (default = `"type_ids"`)
    indicator_dim : `int`, optional (default = `100`)
        Size of the indicator embedding in `"embedding"` mode.
    """

    INDICATOR_MODES = ("type_ids", "embedding")

    def __init__(
        self,
        vocab: Vocabulary,
        text_field_embedder: TextFieldEmbedder,
        encoder: Optional[Seq2SeqEncoder] = None,
        feedforward: Optional[FeedForward] = None,
        dropout: float = 0.0,
        label_namespace: str = "labels",
        tokens_field: str = "tokens",
        indicator_field: Optional[str] = None,
        indicator_mode: str = "type_ids",
        indicator_dim: int = 100,
    ) -> None:
        if indicator_mode not in self.INDICATOR_MODES:
            raise ConfigurationError(
                f"tagger: unknown indicator_mode {indicator_mode!r}; use one of {self.INDICATOR_MODES}"
            )
        embeds_indicator = indicator_field is not None and indicator_mode == "embedding"
        input_dim = text_field_embedder.get_output_dim() + (indicator_dim if embeds_indicator else 0)
        super().__init__(vocab, input_dim, encoder, feedforward, dropout, label_namespace)
        self.text_field_embedder = text_field_embedder
        self.tokens_field = tokens_field
        self.indicator_field = indicator_field
        self.indicator_embedding = torch.nn.Embedding(2, indicator_dim) if embeds_indicator else None
        self._type_id_key = None
        if indicator_field is not None and not embeds_indicator:
            self._type_id_key = _mismatched_transformer_key(text_field_embedder)

    def forward(self, **inputs) -> TaskOutput:  # type: ignore[override]
        for field in filter(None, (self.tokens_field, self.indicator_field)):
            if field not in inputs:
                raise ConfigurationError(f"tagger task-net expects a field {field!r}; the batch has {sorted(inputs)}")
        tokens: TextFieldTensors = inputs[self.tokens_field]
        mask = get_text_field_mask(tokens)
        if self._type_id_key is not None:
            tokens = _with_indicator_type_ids(tokens, self._type_id_key, inputs[self.indicator_field])
        vectors = self.text_field_embedder(tokens)
        if self.indicator_embedding is not None:
            indicator = self.indicator_embedding(inputs[self.indicator_field].long().clamp(0, 1))
            vectors = torch.cat([vectors, indicator], dim=-1)
        return self.tag(vectors, mask)


def _mismatched_transformer_key(text_field_embedder: TextFieldEmbedder) -> str:
    embedders = getattr(text_field_embedder, "_token_embedders", {})
    keys = [k for k, e in embedders.items() if isinstance(e, PretrainedTransformerMismatchedEmbedder)]
    if not keys:
        raise ConfigurationError(
            "tagger: indicator_mode 'type_ids' needs a 'pretrained_transformer_mismatched' token embedder; "
            "use indicator_mode 'embedding' with other embedders"
        )
    return keys[0]


def _with_indicator_type_ids(tokens: TextFieldTensors, key: str, indicator: torch.Tensor) -> TextFieldTensors:
    """`tokens` with the type ids of the `key` indexer's wordpieces set to 1 inside the marked words
    (`indicator` `(batch, num_words)` 0/1; `offsets` `(batch, num_words, 2)` are inclusive wordpiece
    spans), 0 elsewhere."""
    wordpieces = tokens[key]
    offsets = wordpieces["offsets"]
    positions = torch.arange(wordpieces["token_ids"].size(1), device=offsets.device).view(1, 1, -1)
    inside = (positions >= offsets[..., :1]) & (positions <= offsets[..., 1:])  # (batch, words, pieces)
    marked = (inside & indicator.bool().unsqueeze(-1)).any(1)
    return {**tokens, key: {**wordpieces, "type_ids": marked.long()}}


@TaskNN.register("letter-cnn")
class LetterCNNTaskNN(_PositionwiseTagger):
    """Handwritten-word tagger (OCR): a LeNet-5-like convolutional encoder of each 16x8 letter
    image, optionally a `Seq2SeqEncoder` (BiLSTM) over the word's letters, one logit per letter.

    Input fields: `images` `(batch, num_letters, 16, 8)` float in [0, 1] and `letter_mask`
    `(batch, num_letters)` bool (the `ocr-letters` reader's fields).  Output: logits
    `(batch, num_letters, num_letters_classes)`, the mask, and the per-letter features.

    # Parameters
    vocab : `Vocabulary`
    conv_channels : `Tuple[int, int]`, optional (default = `(20, 50)`, as in LeNet-5)
        Output channels of the two 5x5 convolutions (each followed by ReLU and 2x2 max-pooling).
    hidden_dim : `int`, optional (default = `500`)
        Width of the fully connected layer after the convolutions.
    encoder : `Seq2SeqEncoder`, optional
        Over the letters of a word; its input dimension must be `hidden_dim`.
    dropout : `float`, optional (default = `0.0`)
    label_namespace : `str`, optional (default = `"labels"`)
    """

    IMAGE_SHAPE = (16, 8)

    def __init__(
        self,
        vocab: Vocabulary,
        conv_channels: Tuple[int, int] = (20, 50),
        hidden_dim: int = 500,
        encoder: Optional[Seq2SeqEncoder] = None,
        dropout: float = 0.0,
        label_namespace: str = "labels",
    ) -> None:
        super().__init__(vocab, hidden_dim, encoder, None, dropout, label_namespace)
        first, second = conv_channels
        self.convolutions = torch.nn.Sequential(
            torch.nn.Conv2d(1, first, kernel_size=5, padding=2),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),  # 16x8 -> 8x4
            torch.nn.Conv2d(first, second, kernel_size=5, padding=2),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),  # 8x4 -> 4x2
            torch.nn.Flatten(),
            torch.nn.Linear(second * 4 * 2, hidden_dim),
            torch.nn.ReLU(),
        )

    def forward(self, images: torch.Tensor, letter_mask: torch.Tensor, **unused) -> TaskOutput:  # type: ignore[override]
        if images.dim() != 4 or tuple(images.shape[2:]) != self.IMAGE_SHAPE:
            raise ConfigurationError(
                f"letter-cnn expects images of shape (batch, num_letters, 16, 8), got {tuple(images.shape)}"
            )
        batch, num_letters = images.shape[:2]
        letters = self.convolutions(images.reshape(batch * num_letters, 1, *self.IMAGE_SHAPE).float())
        return self.tag(letters.view(batch, num_letters, -1), letter_mask.bool())
