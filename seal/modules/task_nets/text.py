from typing import Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import TextFieldTensors, Vocabulary
from allennlp.modules import FeedForward, Seq2SeqEncoder, Seq2VecEncoder, TextFieldEmbedder
from allennlp.modules.seq2vec_encoders import CnnEncoder
from allennlp.nn.util import get_text_field_mask

from seal.modules.task_nets.task_nn import TaskNN, TaskOutput, output_size


@TaskNN.register("text-classifier")
class TextClassifierTaskNN(TaskNN):
    """A multi-label text classifier: `TextFieldEmbedder` -> optional `Seq2SeqEncoder` ->
    `Seq2VecEncoder` (the pooling) -> optional `FeedForward` -> one logit per label.

    Two usual set-ups: a pretrained transformer (`pretrained_transformer` embedder, fine-tuned or
    frozen, from a model name or a local directory) pooled by its first token (AllenNLP's
    `cls_pooler`) or by the mean over real tokens (`boe` with `averaged: true`); or a light
    network trained from scratch (word embeddings, then `cnn` max-pooled n-gram filters or an
    `lstm` / `gru` seq2vec).

    Input field `tokens` (`TextFieldTensors`).  Output: logits `(batch, num_labels)` (the size of
    `label_namespace`), no mask, and the pooled (then feedforward) representation `(batch,
    feature_dim)` as `features`, which a structured score conditioned on `x` reads.  Padding does
    not change a document's output with the masked poolings (`cls_pooler`, `boe`, `lstm`).

    # Parameters
    vocab : `Vocabulary`
    text_field_embedder : `TextFieldEmbedder`
    seq2vec_encoder : `Seq2VecEncoder`
    seq2seq_encoder : `Seq2SeqEncoder`, optional
    feedforward : `FeedForward`, optional
    dropout : `float`, optional (default = `0.0`)
        On the pooled vector and before the label layer.
    label_namespace : `str`, optional (default = `"labels"`)
    tokens_field : `str`, optional (default = `"tokens"`)
    """

    def __init__(
        self,
        vocab: Vocabulary,
        text_field_embedder: TextFieldEmbedder,
        seq2vec_encoder: Seq2VecEncoder,
        seq2seq_encoder: Optional[Seq2SeqEncoder] = None,
        feedforward: Optional[FeedForward] = None,
        dropout: float = 0.0,
        label_namespace: str = "labels",
        tokens_field: str = "tokens",
    ) -> None:
        super().__init__()
        num_labels = output_size(vocab, label_namespace)
        stages = [("text_field_embedder", text_field_embedder)]
        stages += [("seq2seq_encoder", seq2seq_encoder)] if seq2seq_encoder is not None else []
        stages += [("seq2vec_encoder", seq2vec_encoder)]
        stages += [("feedforward", feedforward)] if feedforward is not None else []
        _check_dimensions(stages)
        self.text_field_embedder = text_field_embedder
        self.seq2seq_encoder = seq2seq_encoder
        self.seq2vec_encoder = seq2vec_encoder
        self.feedforward = feedforward
        self.dropout = torch.nn.Dropout(dropout)
        self.label_layer = torch.nn.Linear(stages[-1][1].get_output_dim(), num_labels)
        self.tokens_field = tokens_field

    def forward(self, **inputs) -> TaskOutput:  # type: ignore[override]
        if self.tokens_field not in inputs:
            raise ConfigurationError(
                f"text-classifier task-net expects a text field {self.tokens_field!r}; the batch has {sorted(inputs)}"
            )
        tokens: TextFieldTensors = inputs[self.tokens_field]
        mask = get_text_field_mask(tokens)
        self._check_cnn_width(mask.shape[1])
        vectors = self.text_field_embedder(tokens)
        if self.seq2seq_encoder is not None:
            vectors = self.seq2seq_encoder(vectors, mask)
        features = self.dropout(self.seq2vec_encoder(vectors, mask))
        if self.feedforward is not None:
            features = self.feedforward(features)
        return TaskOutput(self.label_layer(self.dropout(features)), None, features)

    def _check_cnn_width(self, num_tokens: int) -> None:
        if isinstance(self.seq2vec_encoder, CnnEncoder):
            widest = max(self.seq2vec_encoder._ngram_filter_sizes)
            if num_tokens < widest:
                raise ConfigurationError(
                    f"text-classifier: a batch of {num_tokens}-token texts is narrower than the cnn's "
                    f"{widest}-gram filters; set \"token_min_padding_length\": {widest} in the token indexer"
                )


def _check_dimensions(stages) -> None:
    """Each stage's input dimension must be the previous stage's output dimension."""
    for (previous_name, previous), (name, stage) in zip(stages, stages[1:]):
        if stage.get_input_dim() != previous.get_output_dim():
            raise ConfigurationError(
                f"text-classifier: {name}'s input dimension is {stage.get_input_dim()}, but "
                f"{previous_name} outputs {previous.get_output_dim()}"
            )
