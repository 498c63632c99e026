import hashlib
import logging
import os
from typing import Dict, Optional

import lmdb
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.modules.token_embedders import TokenEmbedder

logger = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "float16": torch.float16}
# Texts embedded so far by every frozen embedder of this process, by embedder fingerprint: the
# task-net and the loss-net's copy of it hold the same frozen weights and share one memory.
_MEMORY: Dict[str, Dict[str, torch.Tensor]] = {}
# LMDB allows one open environment per file and process.
_STORES: Dict[str, "_VectorStore"] = {}


def forget_all() -> None:
    """Empties the in-memory cache of every frozen-cached embedder of this process."""
    _MEMORY.clear()


@TokenEmbedder.register("frozen-cached")
class FrozenCachedEmbedder(TokenEmbedder):
    """A token embedder used as a fixed feature extractor (typically a pretrained transformer,
    `pretrained_transformer` or `pretrained_transformer_mismatched`), which embeds each distinct
    text once and then reads its vectors from a cache.

    The wrapped embedder is frozen: its parameters get `requires_grad = False` and it always runs
    in eval mode (no dropout), so a text's vectors do not depend on the epoch, and remembering them
    is exact.  A text is identified by the content of its indexed tensors with trailing padding
    (zeros) removed, so the same text in two batches of different widths is one cache entry.

    Each text missing from the cache is embedded alone, cut to its own length: a transformer's
    output for a text changes in the last float bits with the padding width of its batch (enough
    to flip stored float16 values), so embedding it inside whatever batch first met it would make
    the cache, and every run that reads it, depend on which run filled it.  On a CPU this costs
    no extra time, since no compute goes to padding (measurements in benchmarks/tuning/debtags_minilm_frozen.md,
    section debtags_minilm_frozen_cache_refill).  The inputs of AllenNLP's
    `pretrained_transformer` and `pretrained_transformer_mismatched` indexers are cut by their
    masks; an embedder with other inputs is run on the batch's rows as they come.

    Vectors are kept in memory for the life of the process (shared by every `frozen-cached`
    embedder whose wrapped weights are identical, e.g. a task-net and the loss-net's copy of it),
    and, when `cache_directory` is set, in an LMDB file there (safe for several processes at
    once), named by a fingerprint of the wrapped embedder's weights: later
    runs, `allennlp evaluate` and other seeds read what earlier ones computed, and a different
    model never reads another's vectors.

    Input: the indexer's tensors, which must include the `mask` `(batch, num_tokens)` whose real
    positions form a prefix of each row (AllenNLP's right padding).  Output `(batch, num_tokens,
    output_dim)`, zero at padding.  Not differentiable (nothing upstream of it is trained).

    # Parameters
    embedder : `TokenEmbedder`
        The wrapped embedder, e.g. `{"type": "pretrained_transformer_mismatched", "model_name": ...}`.
    cache_directory : `str`, optional
        Where the on-disk cache lives; `None` keeps vectors in memory only.
    storage_dtype : `str`, optional (default = `"float32"`)
        `"float16"` halves the cache's memory and disk for long texts at ~3 significant digits.
    """

    def __init__(
        self,
        embedder: TokenEmbedder,
        cache_directory: Optional[str] = None,
        storage_dtype: str = "float32",
    ) -> None:
        super().__init__()
        if storage_dtype not in _DTYPES:
            raise ConfigurationError(
                f"frozen-cached storage_dtype must be one of {sorted(_DTYPES)}, got {storage_dtype!r}"
            )
        self.embedder = embedder
        for parameter in self.embedder.parameters():
            parameter.requires_grad_(False)
        self.embedder.eval()
        self.cache_directory = cache_directory
        self.storage_dtype = _DTYPES[storage_dtype]
        self._fingerprint: Optional[str] = None
        self._disk: Optional["_VectorStore"] = None

    def get_output_dim(self) -> int:
        return self.embedder.get_output_dim()

    def train(self, mode: bool = True) -> "FrozenCachedEmbedder":
        super().train(mode)
        self.embedder.eval()  # frozen features: never dropout
        return self

    def _load_from_state_dict(self, *args, **kwargs):
        self._fingerprint = None  # new weights, new fingerprint (e.g. loading an archive)
        return super()._load_from_state_dict(*args, **kwargs)

    def forward(self, mask: torch.BoolTensor = None, **inputs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if mask is None:
            raise ConfigurationError(
                "frozen-cached needs the indexer's 'mask' (the text's real positions); the inputs were "
                f"{sorted(inputs)}: wrap an embedder whose indexer produces one (pretrained_transformer, "
                "pretrained_transformer_mismatched)"
            )
        lengths = mask.sum(-1).tolist()
        keys = [self._key(row, inputs, mask) for row in range(mask.size(0))]
        memory = _MEMORY.setdefault(self.fingerprint(), {})
        if self._disk is not None:
            memory.update(self._disk.read([key for key in keys if key not in memory]))
        missing = [row for row, key in enumerate(keys) if key not in memory]
        if missing:
            computed = self._embed(missing, keys, lengths, mask, inputs)
            memory.update(computed)
            if self._disk is not None:
                self._disk.write(computed)
        output = mask.new_zeros(*mask.shape, self.get_output_dim(), dtype=torch.get_default_dtype())
        for row, (key, length) in enumerate(zip(keys, lengths)):
            output[row, :length] = memory[key].to(output.dtype)
        return output

    def _embed(self, rows, keys, lengths, mask, inputs) -> Dict[str, torch.Tensor]:
        """The wrapped embedder's vectors of `rows`, by key, each `(length, output_dim)`."""
        alone = [_row_alone(row, mask, inputs) for row in rows]
        with torch.no_grad():
            if all(row_inputs is not None for row_inputs in alone):
                vectors = [self.embedder(**row_inputs)[0] for row_inputs in alone]
            else:
                index = torch.tensor(rows, device=mask.device)
                vectors = list(self.embedder(mask=mask.index_select(0, index),
                                             **{k: v.index_select(0, index) for k, v in inputs.items()}))
        return {
            keys[row]: vector[: lengths[row]].to(self.storage_dtype).cpu().clone() for row, vector in zip(rows, vectors)
        }

    @staticmethod
    def _key(row: int, inputs: Dict[str, torch.Tensor], mask: torch.Tensor) -> str:
        digest = hashlib.sha1()
        for name in sorted(inputs) + ["mask"]:
            values = (mask if name == "mask" else inputs[name])[row].reshape(-1).long()
            nonzero = values.nonzero()
            end = int(nonzero[-1]) + 1 if len(nonzero) else 0
            digest.update(name.encode())
            digest.update(values[:end].cpu().numpy().tobytes())
        return digest.hexdigest()

    def without_disk_cache(self) -> "FrozenCachedEmbedder":
        """Stops reading and writing the on-disk cache (e.g. to time the wrapped embedder itself)."""
        self.fingerprint()
        self.cache_directory, self._disk = None, None
        return self

    def fingerprint(self) -> str:
        """A hash of the wrapped embedder's weights (and the storage type), computed once."""
        if self._fingerprint is None:
            # "alone": vectors of texts embedded one at a time (caches filled in padded batches differ)
            digest = hashlib.sha1(f"alone {self.storage_dtype}".encode())
            for name, tensor in self.embedder.state_dict().items():
                digest.update(name.encode())
                digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
            self._fingerprint = digest.hexdigest()[:20]
            self._open_disk()
        return self._fingerprint

    def _open_disk(self) -> None:
        if self.cache_directory is None:
            self._disk = None
            return
        os.makedirs(self.cache_directory, exist_ok=True)
        path = os.path.join(self.cache_directory, f"frozen-{self._fingerprint}.lmdb")
        if path not in _STORES:
            _STORES[path] = _VectorStore(path, self.get_output_dim(), self.storage_dtype)
        self._disk = _STORES[path]
        logger.info("frozen-cached: vectors cached in %s (%d texts so far)", path, len(self._disk))


# Which mask gives the length of each input of AllenNLP's transformer indexers; token and type
# ids follow the finest wordpiece mask present (segment_concat_mask when texts are folded into
# max_length segments, wordpiece_mask for the mismatched indexer, else mask).
_CUT_BY = {"mask": "mask", "offsets": "mask", "wordpiece_mask": "wordpiece_mask",
           "segment_concat_mask": "segment_concat_mask"}
_ID_MASKS = ("segment_concat_mask", "wordpiece_mask", "mask")


def _row_alone(row: int, mask: torch.BoolTensor, inputs: Dict[str, torch.Tensor]) -> Optional[Dict[str, torch.Tensor]]:
    """Row `row` of the batch as a batch of one with no padding, or `None` when an input is not
    one of the transformer indexers' (its padding cannot be told from its content)."""
    everything = {"mask": mask, **inputs}
    ids_mask = next(name for name in _ID_MASKS if name in everything)
    alone = {}
    for name, tensor in everything.items():
        by = _CUT_BY.get(name, ids_mask if name in ("token_ids", "type_ids") else None)
        if by is None:
            return None
        alone[name] = tensor[row : row + 1, : int(everything[by][row].sum())]
    return alone


class _VectorStore:
    """Matrices `(length, dim)` of one dtype by string key in an LMDB file, as raw bytes (no pickle).
    LMDB serialises writers across processes and lets readers run beside them."""

    def __init__(self, path: str, dim: int, dtype: torch.dtype) -> None:
        self.dim, self.dtype = dim, dtype
        self.environment = lmdb.open(
            path, subdir=False, map_size=1 << 40, readahead=False, meminit=False, max_readers=64
        )

    def __len__(self) -> int:
        return self.environment.stat()["entries"]

    def read(self, keys) -> Dict[str, torch.Tensor]:
        found = {}
        with self.environment.begin(write=False) as transaction:
            for key in keys:
                value = transaction.get(key.encode())
                if value is not None:
                    found[key] = torch.frombuffer(bytearray(value), dtype=self.dtype).view(-1, self.dim)
        return found

    def write(self, vectors: Dict[str, torch.Tensor]) -> None:
        with self.environment.begin(write=True) as transaction:
            for key, value in vectors.items():
                transaction.put(key.encode(), value.contiguous().numpy().tobytes())
