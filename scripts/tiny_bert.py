"""Writes a tiny, randomly initialised BERT (weights, config and a word-level WordPiece vocabulary)
to a directory that `transformers` and AllenNLP's `pretrained_transformer*` components load like a
downloaded model.  The tests and the SRL fixture demo use it; nothing is downloaded.

Usage: .venv/bin/python scripts/tiny_bert.py OUT_DIR [--vocab-from fixtures/srl ...] [--hidden 32]

The vocabulary holds the lowercased words of the given files (for `.gold_conll` files, the word
column; otherwise every whitespace-separated token), plus every character alone and as a `##`
continuation, so that any text tokenizes without [UNK].
"""
import argparse
import os
import string
from pathlib import Path
from typing import Iterable, List

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def words_of(path: Path) -> Iterable[str]:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        conll = file.name.endswith("gold_conll")
        for line in file.read_text(encoding="utf-8").splitlines():
            columns = line.split()
            if conll:
                if columns and not line.startswith("#") and len(columns) > 3:
                    yield columns[3]
            else:
                yield from columns


def vocabulary(sources: List[str]) -> List[str]:
    words = {w.lower() for source in sources for w in words_of(Path(source))}
    characters = sorted(set(string.ascii_lowercase + string.digits + string.punctuation))
    pieces = characters + ["##" + c for c in characters]
    return SPECIAL + pieces + sorted(words - set(pieces) - set(SPECIAL))


def write_tiny_bert(out_dir: str, sources: List[str], hidden: int = 32, layers: int = 2, seed: int = 0) -> str:
    """Writes the model to `out_dir` and returns it."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    os.makedirs(out_dir, exist_ok=True)
    vocab_file = os.path.join(out_dir, "vocab.txt")
    with open(vocab_file, "w", encoding="utf-8") as handle:
        handle.write("\n".join(vocabulary(sources)) + "\n")
    config = BertConfig(
        vocab_size=len(open(vocab_file, encoding="utf-8").read().splitlines()),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=512,
        type_vocab_size=2,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(out_dir)
    BertTokenizer(vocab_file, do_lower_case=True).save_pretrained(out_dir)
    return out_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--vocab-from", nargs="*", default=[], help="files or directories of text")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(write_tiny_bert(args.out_dir, args.vocab_from, args.hidden, args.layers, args.seed))


if __name__ == "__main__":
    main()
