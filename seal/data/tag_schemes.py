"""Tag schemes of span labelling (NER, chunking, SRL): checking, recoding, and decoding tags to
spans, tolerant of the illegal sequences an unconstrained tagger predicts.

Schemes (`X` is any span type):
- `"BIO"` (= IOB2): `B-X` begins a span, `I-X` continues it, `O` is outside.
- `"IOB1"`: `I-X` is inside a span; `B-X` only begins a span that directly follows one of type X.
- `"BIOUL"` (= BILOU, BIOES): `B-X` begin, `I-X` inside, `L-X` last, `U-X` single-token span.
- `None` (`NO_SCHEME`): plain tags without spans (part of speech, letters): any non-empty tag is
  valid and is kept as it is.
"""
from typing import Callable, List, Optional

from allennlp.common.checks import ConfigurationError
from allennlp.data.dataset_readers.dataset_utils.span_utils import (
    TypedStringSpan,
    bio_tags_to_spans,
    iob1_tags_to_spans,
    to_bioul,
)

# Input span scheme -> the prefixes its tags may have (besides the plain tag "O").
INPUT_SCHEMES = {"BIO": "BI", "IOB1": "BI", "BIOUL": "BIUL"}
OUTPUT_SCHEMES = ("BIOUL", "BIO")
# Plain tags: no span scheme, nothing to check or recode beyond a non-empty tag.
NO_SCHEME = None


def tag_problem(tag: str, scheme: Optional[str]) -> Optional[str]:
    """Why `tag` is not a valid tag of the input `scheme` (`NO_SCHEME`: any non-empty tag is),
    or `None` if it is."""
    if scheme is NO_SCHEME:
        return None if tag else "the tag is empty"
    if tag == "O":
        return None
    prefixes = INPUT_SCHEMES[scheme]
    if len(tag) > 2 and tag[0] in prefixes and tag[1] == "-":
        return None
    allowed = ", ".join(f"'{prefix}-<type>'" for prefix in prefixes)
    return f"tag {tag!r} is not a valid {scheme} tag (expected 'O', {allowed})"


def convert_tags(tags: List[str], from_scheme: Optional[str], to_scheme: Optional[str]) -> List[str]:
    """
    Recodes valid tags (see `tag_problem`) of input scheme `from_scheme` ("BIO", "IOB1", "BIOUL")
    to `to_scheme` ("BIOUL", "BIO").  Everything goes through BIOUL made by AllenNLP's `to_bioul`.
    Plain tags (`NO_SCHEME` to `NO_SCHEME`) come back unchanged; a span scheme cannot be
    recoded to or from plain tags (`ConfigurationError`).

    Illegal transitions are not errors; they are read the way AllenNLP reads them
    (`bio_tags_to_spans`, and `to_bioul` on IOB1): an `I-X` that does not continue a span of
    type X (after `O`, at the start, or after another type) begins a new span.  In BIOUL input,
    `B-X`/`U-X` always begin a span, `I-X`/`L-X` continue an open span of type X (else begin
    one), and `L-X`/`U-X` end it; an unfinished span ends where the next one begins.
    (AllenNLP's `to_bioul(encoding="BIO")` raises `InvalidTagSequence` on these sequences, so BIO
    input is first repaired as just described.)
    """
    if from_scheme is NO_SCHEME or to_scheme is NO_SCHEME:
        if from_scheme is not to_scheme:
            raise ConfigurationError(f"cannot recode {from_scheme or 'plain'} tags to {to_scheme or 'plain'} tags")
        return list(tags)
    if from_scheme == "IOB1":
        bioul = to_bioul(tags, encoding="IOB1")
    else:  # BIO or BIOUL: read tolerantly as valid BIO, re-encode
        bioul = to_bioul(bioul_to_bio(tags), encoding="BIO")
    return bioul if to_scheme == "BIOUL" else bioul_to_bio(bioul)


def bioul_to_bio(tags: List[str]) -> List[str]:
    """BIOUL or BIO -> valid BIO (`U`->`B`, `L`->`I` on valid BIOUL; valid BIO is unchanged),
    tolerant as `convert_tags` describes: an `I-X` or `L-X` that does not continue a span of type
    X begins one."""
    bio, open_type = [], None
    for tag in tags:
        if tag == "O":
            bio.append(tag)
            open_type = None
            continue
        prefix, tag_type = tag[0], tag[2:]
        begins = prefix in "BU" or open_type != tag_type
        bio.append(f"{'B' if begins else 'I'}-{tag_type}")
        open_type = tag_type if prefix in "BI" else None
    return bio


def tolerant_bioul_tags_to_spans(
    tags: List[str], classes_to_ignore: Optional[List[str]] = None
) -> List[TypedStringSpan]:
    """The spans of BIOUL `tags`, as AllenNLP's `bioul_tags_to_spans` finds them on valid input;
    illegal sequences (which it rejects with `InvalidTagSequence`) are read as `bioul_to_bio`
    describes, so an unconstrained tagger's argmax always has spans."""
    return bio_tags_to_spans(bioul_to_bio(tags), classes_to_ignore)


SpanDecoder = Callable[..., List[TypedStringSpan]]
_SPAN_DECODERS = {"BIO": bio_tags_to_spans, "IOB1": iob1_tags_to_spans, "BIOUL": tolerant_bioul_tags_to_spans}


def span_decoder(label_encoding: str) -> SpanDecoder:
    """The function turning a list of tags in `label_encoding` into `(label, (start, end))` spans
    (inclusive ends), with the signature of AllenNLP's `tags_to_spans` functions.  Never raises on
    an illegal tag sequence."""
    if label_encoding not in _SPAN_DECODERS:
        raise ConfigurationError(
            f"label_encoding must be one of {sorted(_SPAN_DECODERS)}, got {label_encoding!r}"
        )
    return _SPAN_DECODERS[label_encoding]
