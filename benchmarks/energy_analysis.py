"""What a trained energy has learned about label interactions, and how the implicit term of its
hypergradient compares with the direct gradient over training (issue #41, item 3).

1. Multi-label archives: the Hessian of the energy `E(x, y) = -s(x, y)` with respect to the relaxed
   labels `y`, `d2E / dy dy` `(L, L)`, computed exactly by double backward (one Hessian-vector
   product per unit vector, batched over examples) and averaged over the first `--max-examples`
   training examples, at `y` = the task-net's relaxed output (its marginals; the model's own
   prediction for a model without task-net) or, with `--at gold`, at the gold labels; beside it
   the training labels' co-occurrence matrix, the Pearson correlation of the binary label columns
   (the phi coefficient of each pair of labels, over every training example; 0 for a label that
   is always or never present).  Both with the diagonal removed, as labelled heat maps side by
   side (`energy_hessian.png`), and the Pearson correlation of their off-diagonal entries (each
   unordered pair once: both matrices are symmetric).  An energy that rewards a pair of labels
   occurring together has a negative mixed derivative for it, so a negative correlation means the
   energy has learned the co-occurrences.
2. Sequence archives: the learned tag-pair interactions `W[i, j]` (the score of tag `j` right after
   tag `i`; the energy's is `-W`) of every `linear-chain` structured score of the score-net and of a
   `linear-chain-crf` task-net (the transitions its CRF uses, normalised if it normalises them), as
   labelled heat maps (`transitions.png`).
3. `--run-dir` of an `implicit-energy` run: its per-epoch means of `||dL/dphi||` (the direct
   gradient) and of the implicit term's norm (what first-order alternation such as InfNet+ drops),
   the `training_hypergradient_*` metrics of its `metrics_epoch_*.json`, over the epochs
   (`hypergradient_norms.png`).

Writes the figures (dpi 100), `analysis.md` (command, machine, seeds, then the numbers) and
`analysis.json` (the same with the matrices) into `--out-dir`, by default
`benchmarks/results/analysis-<name>`, `<name>` the archive's (else the run's) directory name.

Usage: .venv/bin/python benchmarks/energy_analysis.py --archive RUN/model.tar.gz [--run-dir RUN] \
           [--out-dir DIR] [--max-examples N] [--at task-net|gold]
"""
import argparse
import json
import math
import os
import sys
from typing import Callable, Dict, List, Optional, Sequence

import torch

import common

DPI = 100
HYPERGRADIENT_KEYS = {"direct": "training_hypergradient_direct_norm",
                      "implicit": "training_hypergradient_implicit_norm"}
# Cell values are written into heat maps with at most this many rows; every row and column is
# named up to MAX_TICKS of them (beyond, the names could not be told apart).
ANNOTATE_UP_TO = 12
MAX_TICKS = 160


# ---- the matrices ----------------------------------------------------------------------------
def energy_hessian(score: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor) -> torch.Tensor:
    """The exact Hessians `d2E / dy dy` `(batch, L, L)` of the energy `E = -score` of each example at
    relaxed outputs `y` `(batch, L)`, by double backward: the gradient of `sum_b E_b(y_b)` is taken
    with its graph, then differentiated along each unit vector `e_i` (one backward pass per label,
    giving row `i` of every example's Hessian at once).  `score` maps `(batch, 1, L)` to
    `(batch, 1)`, as a `BoundScore` does, and must score each example from its own row of `y`
    alone (the score-net in eval mode)."""
    y = y.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        energy = -score(y.unsqueeze(1)).sum()
        (gradient,) = torch.autograd.grad(energy, y, create_graph=True)
        rows = []
        for i in range(y.size(-1)):
            if not gradient.requires_grad:  # the energy is linear in y: its Hessian is 0
                rows.append(torch.zeros_like(y))
                continue
            (row,) = torch.autograd.grad(gradient[:, i].sum(), y, retain_graph=True, allow_unused=True)
            rows.append(torch.zeros_like(y) if row is None else row)
    return torch.stack(rows, dim=1).detach()


def cooccurrence(labels: torch.Tensor) -> torch.Tensor:
    """The Pearson correlation `(L, L)` of the columns of a binary label matrix `(examples, L)`
    (the phi coefficient of each pair of labels): `cov(i, j) / (std(i) std(j))` with population
    moments, `P(i and j) - P(i) P(j)` over the product of the Bernoulli standard deviations.  A
    label that is always or never present has no correlation: its row and column are 0."""
    labels = labels.double()
    p = labels.mean(0)
    covariance = labels.T @ labels / labels.size(0) - torch.outer(p, p)
    std = covariance.diagonal().clamp_min(0).sqrt()
    scale = torch.outer(std, std)
    return torch.where(scale > 0, covariance / scale.clamp_min(1e-300), torch.zeros_like(covariance))


def off_diagonal(matrix: torch.Tensor) -> torch.Tensor:
    """The entries above the diagonal of a square matrix, row by row (each unordered pair once)."""
    rows, columns = torch.triu_indices(matrix.size(0), matrix.size(1), offset=1)
    return matrix[rows, columns]


def without_diagonal(matrix: torch.Tensor) -> torch.Tensor:
    """The matrix with `nan` on its diagonal (drawn blank, left out of every statistic)."""
    out = matrix.clone().double()
    out.fill_diagonal_(float("nan"))
    return out


def pearson(a: torch.Tensor, b: torch.Tensor) -> Optional[float]:
    """The Pearson correlation of two vectors; None when either is constant (or has < 2 entries)."""
    a, b = a.double().flatten(), b.double().flatten()
    if a.numel() < 2:
        return None
    a, b = a - a.mean(), b - b.mean()
    denominator = float(a.norm() * b.norm())
    return float(a @ b) / denominator if denominator > 0 else None


# ---- reading an archive ----------------------------------------------------------------------
def resolve(path: str) -> str:
    """A config's data path: as given if it exists, else relative to the repository root."""
    return path if os.path.isabs(path) or os.path.exists(path.split("@")[0]) else os.path.join(common.ROOT, path)


def seeds(config) -> Dict[str, int]:
    """The run's three seeds (AllenNLP's defaults where the config has none)."""
    return {key: config.get(key, default) for key, default in common.ALLENNLP_DEFAULT_SEEDS.items()}


def label_names(model) -> List[str]:
    """The model's label (tag) names in index order, from its output space's namespace."""
    namespace = getattr(model.output_space, "label_namespace", "labels")
    names = model.vocab.get_index_to_token_vocabulary(namespace)
    return [names[i] for i in range(len(names))]


def is_multilabel(model) -> bool:
    """Whether the model predicts label sets (not segmentation masks, not tag sequences)."""
    from seal.modules.output_spaces.binary_mask import BinaryMaskOutputSpace
    from seal.modules.output_spaces.multilabel import MultiLabelOutputSpace

    space = model.output_space
    return isinstance(space, MultiLabelOutputSpace) and not isinstance(space, BinaryMaskOutputSpace)


def average_hessian(model, instances: Sequence, at: str = "task-net", max_examples: Optional[int] = None,
                    batch_size: int = 256) -> Dict[str, object]:
    """The mean over the first `max_examples` of `instances` (all without it) of the energy's
    Hessian with respect to the labels (`energy_hessian`), at the task-net's relaxed output
    (`at="task-net"`; the model's prediction when it has no task-net) or at the gold labels
    (`at="gold"`), with the score-net in eval mode; and those examples' gold labels `(n, L)`."""
    from allennlp.data.data_loaders import SimpleDataLoader

    if at not in ("task-net", "gold"):
        raise ValueError(f"at must be 'task-net' or 'gold', got {at!r}")
    if model.score_nn is None:
        raise SystemExit("the archived model has no score-net (energy) to differentiate")
    instances = list(instances)[:max_examples] if max_examples else list(instances)
    model = model.eval()
    total, count, gold_rows = None, 0, []
    for batch in SimpleDataLoader(instances, batch_size, vocab=model.vocab):
        inputs = {name: value for name, value in batch.items() if name != "metadata"}
        gold = inputs.pop(model.label_field).float()
        gold_rows.append(gold)
        with torch.no_grad():
            if at == "gold":
                y = gold
            elif model.task_nn is not None:
                y = model.output_space.distribution(model.task_nn(**inputs)).marginals()
            else:
                y = model(**inputs)["probabilities"]
            bound = model.score_nn.bind(inputs).detached()
        hessians = energy_hessian(bound, y)
        total = hessians.sum(0) if total is None else total + hessians.sum(0)
        count += hessians.size(0)
    if not count:
        raise SystemExit("no examples to average the Hessian over")
    return {"hessian": total / count, "examples": count, "gold": torch.cat(gold_rows)}


def tag_interactions(model) -> Dict[str, torch.Tensor]:
    """The learned tag-transition matrices of a sequence model, by where they are: each
    `linear-chain` structured score of the score-net (`score_nn.<module path>`) and a
    `linear-chain-crf` task-net (`task_nn`: the transitions its CRF uses, divided by the pairwise
    norm under `scaling: "normalise"`)."""
    from seal.modules.structured_scores.sequence import LinearChainScore
    from seal.modules.task_nets.crf import LinearChainCRFTaskNN, pairwise_norm

    found: Dict[str, torch.Tensor] = {}
    if model.score_nn is not None:
        for name, module in model.score_nn.named_modules():
            if isinstance(module, LinearChainScore):
                found[f"score_nn.{name}"] = module.transitions.detach().clone()
    if model.task_nn is not None:
        for name, module in model.task_nn.named_modules():
            if isinstance(module, LinearChainCRFTaskNN):
                transitions = module.transitions.detach().clone()
                if module.scaling == "normalise":
                    transitions = transitions / pairwise_norm(module.transitions, module.start, module.end).detach()
                found["task_nn" + (f".{name}" if name else "")] = transitions
    return found


def hypergradient_curve(run_dir: str) -> List[dict]:
    """Per epoch of `run_dir` (in order): `epoch`, `direct` and `implicit`, the epoch's mean norms
    of the direct gradient and of the implicit term.  Exits when the run has no such metrics."""
    rows = common.epoch_metrics(run_dir)
    if not rows:
        raise SystemExit(f"{run_dir}: no metrics_epoch_<n>.json (not an AllenNLP serialization directory?)")
    curve = [{"epoch": row["epoch"], **{name: row[key] for name, key in HYPERGRADIENT_KEYS.items()}}
             for row in rows if all(key in row for key in HYPERGRADIENT_KEYS.values())]
    if not curve:
        raise SystemExit(f"{run_dir}: its epoch metrics have no {sorted(HYPERGRADIENT_KEYS.values())} "
                         "(not an implicit-energy run, or one made before the model recorded them)")
    return curve


# ---- figures ---------------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def heat_map(ax, matrix: torch.Tensor, names: Sequence[str], title: str, xlabel: str = "", ylabel: str = ""):
    """A diverging heat map centred at 0 (`nan` cells blank), label names on both axes."""
    import matplotlib.colors

    values = matrix.double().numpy()
    finite = matrix[~torch.isnan(matrix)]
    limit = float(finite.abs().max()) if finite.numel() and float(finite.abs().max()) > 0 else 1.0
    cmap = _pyplot().get_cmap("RdBu_r").with_extremes(bad="0.85")
    image = ax.imshow(values, cmap=cmap, norm=matplotlib.colors.TwoSlopeNorm(0.0, -limit, limit))
    size = len(names)
    if size <= MAX_TICKS:
        font = max(2.5, min(8.0, 400 / max(size, 1)))
        ax.set_xticks(range(size), names, rotation=90, fontsize=font)
        ax.set_yticks(range(size), names, fontsize=font)
    if size <= ANNOTATE_UP_TO:
        for i in range(size):
            for j in range(size):
                if not math.isnan(values[i, j]):
                    colour = "white" if abs(values[i, j]) > 0.6 * limit else "black"
                    ax.text(j, i, f"{values[i, j]:.2g}", ha="center", va="center", fontsize=7, color=colour)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    _pyplot().colorbar(image, ax=ax, fraction=0.046, pad=0.04)


def plot_hessian(path: str, hessian: torch.Tensor, cooc: torch.Tensor, names: Sequence[str], at: str,
                 correlation: Optional[float], examples: int) -> None:
    plt = _pyplot()
    side = min(4.5 + 0.1 * len(names), 10.0)
    fig, axes = plt.subplots(1, 2, figsize=(2 * side + 1, side))
    heat_map(axes[0], without_diagonal(hessian), names,
             f"mean d²E/dy_i dy_j at the {at} output\n({examples} training examples)")
    heat_map(axes[1], without_diagonal(cooc), names,
             "training label co-occurrence\n(correlation of the label columns)")
    value = "undefined" if correlation is None else f"{correlation:+.3f}"
    fig.suptitle(f"Pearson correlation of the off-diagonal entries: {value}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_transitions(path: str, matrices: Dict[str, torch.Tensor], names: Sequence[str]) -> None:
    plt = _pyplot()
    side = min(4.5 + 0.12 * len(names), 10.0)
    fig, axes = plt.subplots(1, len(matrices), figsize=(len(matrices) * (side + 1), side), squeeze=False)
    for ax, (where, matrix) in zip(axes[0], matrices.items()):
        heat_map(ax, matrix, names, f"{where}: score W[i, j] of tag j after tag i", "next tag j", "tag i")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_hypergradient(path: str, curve: List[dict], title: str) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    epochs = [row["epoch"] for row in curve]
    axes[0].plot(epochs, [row["direct"] for row in curve], marker="o", label="||direct gradient||")
    axes[0].plot(epochs, [row["implicit"] for row in curve], marker="s", label="||implicit term||")
    if all(row["direct"] > 0 and row["implicit"] > 0 for row in curve):
        axes[0].set_yscale("log")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("mean norm over the epoch's score-net steps", fontsize=8)
    axes[0].legend(fontsize=8)
    ratios = [row["implicit"] / row["direct"] if row["direct"] > 0 else float("nan") for row in curve]
    axes[1].plot(epochs, ratios, marker="o", color="tab:green")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("||implicit|| / ||direct||", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


# ---- the command -----------------------------------------------------------------------------
def rounded(matrix: torch.Tensor, digits: int = 6) -> List[List[float]]:
    """A matrix as nested lists of numbers with `digits` significant digits (a small JSON file)."""
    return [[float(f"{float(value):.{digits}g}") for value in row] for row in matrix]


def matrix_lines(matrix: torch.Tensor, names: Sequence[str]) -> List[str]:
    """A markdown table of a small matrix (rows and columns named), blank on the diagonal."""
    rows = [[name] + ["" if i == j else f"{float(matrix[i, j]):+.3g}" for j in range(len(names))]
            for i, name in enumerate(names)]
    return common.table([""] + list(names), rows)


def analyse_archive(archive: str, out_dir: str, at: str, max_examples: Optional[int]) -> Dict[str, object]:
    """Items 1 (multi-label) or 2 (sequence) for `archive`; figures into `out_dir`."""
    from allennlp.models.archival import load_archive

    loaded = load_archive(archive)
    model, config = loaded.model, loaded.config
    names = label_names(model)
    record: Dict[str, object] = {"archive": archive, "model": config["model"]["type"], "seeds": seeds(config)}
    lines = [f"Archive: `{archive}` (model `{record['model']}`)  ", ""]
    if is_multilabel(model):
        train = loaded.dataset_reader.read(resolve(config["train_data_path"]))
        instances = list(train)
        result = average_hessian(model, instances, at, max_examples)
        from allennlp.data.data_loaders import SimpleDataLoader

        every = torch.cat([batch[model.label_field].float()
                           for batch in SimpleDataLoader(instances, 1024, vocab=model.vocab)])
        cooc = cooccurrence(every)
        hessian = result["hessian"]
        correlation = pearson(off_diagonal(hessian), off_diagonal(cooc))
        figure = os.path.join(out_dir, "energy_hessian.png")
        plot_hessian(figure, hessian, cooc, names, at, correlation, result["examples"])
        record.update(at=at, hessian_examples=result["examples"], cooccurrence_examples=len(instances),
                      labels=names, hessian=rounded(hessian), cooccurrence=rounded(cooc),
                      off_diagonal_pearson=correlation, figures=[figure])
        value = "undefined (a constant matrix)" if correlation is None else f"{correlation:+.4f}"
        lines += [f"## Energy Hessian against label co-occurrence ({len(names)} labels)", "",
                  f"- Hessian `d2E/dy dy` of `E = -s(x, y)`, exact (double backward), mean over the first "
                  f"{result['examples']} training examples at y = the {at} output",
                  f"- co-occurrence: correlation of the binary label columns over all {len(instances)} training "
                  "examples",
                  f"- Pearson correlation of the {len(off_diagonal(hessian))} off-diagonal pairs: **{value}** "
                  "(negative: the energy's mixed derivative is lowest for the pairs that co-occur most)",
                  f"- figure: `{os.path.relpath(figure, out_dir)}`", ""]
        if len(names) <= ANNOTATE_UP_TO:
            lines += ["Mean Hessian:", ""] + matrix_lines(hessian, names) + ["", "Co-occurrence:", ""]
            lines += matrix_lines(cooc, names) + [""]
    else:
        matrices = tag_interactions(model)
        record.update(labels=names, transitions={where: rounded(m) for where, m in matrices.items()}, figures=[])
        lines += ["## Learned tag-pair interactions", ""]
        if matrices:
            figure = os.path.join(out_dir, "transitions.png")
            plot_transitions(figure, matrices, names)
            record["figures"] = [figure]
            for where, matrix in matrices.items():
                lines.append(f"- `{where}`: {len(names)} tags, entries from {float(matrix.min()):+.3f} to "
                             f"{float(matrix.max()):+.3f}, Frobenius norm {float(matrix.norm()):.3f}")
            lines += [f"- figure: `{os.path.relpath(figure, out_dir)}`", ""]
        else:
            lines += ["- the model has no `linear-chain` score nor `linear-chain-crf` task-net: no learned "
                      "tag-pair matrix to show", ""]
    return {"record": record, "lines": lines}


def analyse_run(run_dir: str, out_dir: str) -> Dict[str, object]:
    """Item 3 for `run_dir`; the figure into `out_dir`."""
    curve = hypergradient_curve(run_dir)
    figure = os.path.join(out_dir, "hypergradient_norms.png")
    plot_hypergradient(figure, curve, f"{os.path.basename(os.path.normpath(run_dir))}: implicit term vs direct "
                                      "gradient")
    config_path = os.path.join(run_dir, "config.json")
    config = json.load(open(config_path)) if os.path.exists(config_path) else {}
    rows = [[row["epoch"], f"{row['direct']:.4g}", f"{row['implicit']:.4g}",
             f"{row['implicit'] / row['direct']:.3g}" if row["direct"] > 0 else "-"] for row in curve]
    lines = [f"## Implicit term against the direct gradient (`{run_dir}`)", "",
             "Means over each epoch's score-net steps (`training_hypergradient_*` of metrics_epoch_*.json):", ""]
    lines += common.table(["epoch", "direct", "implicit", "implicit / direct"], rows)
    lines += ["", f"- figure: `{os.path.relpath(figure, out_dir)}`", ""]
    return {"record": {"run_dir": run_dir, "run_seeds": seeds(config), "hypergradient": curve, "figures": [figure]},
            "lines": lines}


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", help="a trained model.tar.gz (items 1 and 2)")
    parser.add_argument("--run-dir", help="an implicit-energy serialization directory (item 3)")
    parser.add_argument("--out-dir", help="default: benchmarks/results/analysis-<name of the archive's directory>")
    parser.add_argument("--max-examples", type=int, help="training examples the Hessian is averaged over "
                        "(the first N; default: all)")
    parser.add_argument("--at", choices=["task-net", "gold"], default="task-net",
                        help="where the Hessian is taken: the task-net's relaxed output (default) or the gold labels")
    parser.add_argument("--include-package", help="a package of your own components, beside seal's")
    args = parser.parse_args(argv)
    if not args.archive and not args.run_dir:
        parser.error("give --archive, --run-dir or both")
    import seal  # noqa: F401  (registers what archives name)

    if args.include_package:
        __import__(args.include_package)
    source = os.path.dirname(os.path.abspath(args.archive)) if args.archive else os.path.abspath(args.run_dir)
    out_dir = args.out_dir or os.path.join(common.RESULTS, f"analysis-{os.path.basename(source)}")
    os.makedirs(out_dir, exist_ok=True)
    parts = []
    if args.archive:
        parts.append(analyse_archive(args.archive, out_dir, args.at, args.max_examples))
    if args.run_dir:
        parts.append(analyse_run(args.run_dir, out_dir))
    record: Dict[str, object] = {}
    for part in parts:
        record.update(part["record"])
    record["figures"] = [figure for part in parts for figure in part["record"]["figures"]]
    run_seeds = record.get("seeds") or record.get("run_seeds")
    command = " ".join(["python"] + ([sys.argv[0]] + list(argv) if argv is not None else sys.argv))
    seed_line = ", ".join(f"{key} {value}" for key, value in run_seeds.items())
    lines = common.header(command)[:-1] + [f"Seeds: {seed_line} (the run's)  ", ""]
    lines += [line for part in parts for line in part["lines"]]
    with open(os.path.join(out_dir, "analysis.md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    with open(os.path.join(out_dir, "analysis.json"), "w") as handle:
        json.dump({"command": command, "machine": common.machine(), **record}, handle, indent=1)
    print("\n".join(lines))
    return record


if __name__ == "__main__":
    main()
