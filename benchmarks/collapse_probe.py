"""What the energy does to the task-net in the first batches of a SEAL run (issue #38, step 2).

Trains a multi-label SEAL config in this process and, at chosen batches of the first epoch and at
the end of every epoch, measures on one fixed dev batch (model in eval mode):
- `energy`: the loss-net's energy of the task-net's relaxed output, `-s(x, p(x))`, batch mean;
- `|dE/dz|`, `|dCE/dz|`: the norms of the gradients of the energy and of the cross-entropy with
  respect to the task-net's logits z, and their ratio (how much the energy outweighs cross-entropy);
- `p std over x`: the standard deviation of each label's probability across the batch's
  examples, averaged over labels (0 for a task-net whose output does not depend on x);
- `distinct`: how many different label sets the batch's thresholded predictions hold;
- `mean p`: the average probability.
Prints one line per measurement and the dev example-F1 of every epoch.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/collapse_probe.py \
           training_configs/multilabel/scene_seal_dynamic_ssvm.jsonnet --seed 1 --epochs 6
"""
import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCHES = (1, 2, 3, 5, 8, 12, 16, 20, 25, 32)


def measure(model, batch) -> dict:
    import torch

    model.eval()
    inputs = {k: v for k, v in batch.items() if k not in (model.label_field, "metadata")}
    with torch.enable_grad():
        logits = model.task_nn(**inputs).logits.detach().requires_grad_(True)
        p = torch.sigmoid(logits)
        energy = -model.score_nn.bind(inputs)(p.unsqueeze(1)).mean()
        energy_gradient, = torch.autograd.grad(energy, logits)
        ce = torch.nn.functional.binary_cross_entropy_with_logits(logits, batch[model.label_field].float())
        ce_gradient, = torch.autograd.grad(ce, logits)
    model.train()
    predicted = {tuple(row) for row in (p > 0.5).int().tolist()}
    ratio = energy_gradient.norm().item() / max(ce_gradient.norm().item(), 1e-12)
    return {"energy": energy.item(), "energy_grad": energy_gradient.norm().item(), "ce_grad": ce_gradient.norm().item(),
            "ratio": ratio, "p_std_over_x": p.std(0).mean().item(), "distinct": len(predicted),
            "mean_p": p.mean().item()}


def line(tag: str, values: dict) -> str:
    return (f"{tag:>8} energy={values['energy']:8.3f} |dE/dz|={values['energy_grad']:.4f} "
            f"|dCE/dz|={values['ce_grad']:.4f} ratio={values['ratio']:6.2f} p std over x={values['p_std_over_x']:.4f} "
            f"distinct={values['distinct']:3d} mean p={values['mean_p']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config")
    parser.add_argument("--seed", default="default", help="an integer, or 'default' for AllenNLP's seeds")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("-o", "--overrides", default="{}", help="further config overrides (JSON)")
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    from allennlp.commands.train import TrainModel
    from allennlp.common import Params
    from allennlp.common.util import prepare_environment
    from allennlp.training.callbacks import TrainerCallback

    import common
    import seal  # noqa: F401  registers the components

    overrides = {**common.seed_overrides(args.seed), "trainer.num_epochs": args.epochs, "trainer.patience": None,
                 "trainer.callbacks": [], **json.loads(args.overrides)}
    params = Params.from_file(args.config, json.dumps(overrides))
    params.pop("evaluation", None)  # `allennlp evaluate`'s, which `allennlp train` drops as well
    prepare_environment(params)
    trained = TrainModel.from_params(params=params, serialization_dir=tempfile.mkdtemp(), local_rank=0)
    model, trainer = trained.model, trained.trainer
    probe_batch = next(iter(trainer._validation_data_loader))

    class Probe(TrainerCallback):
        def on_batch(self, trainer, batch_inputs, batch_outputs, batch_metrics, epoch, batch_number,
                     is_training, is_primary=True, batch_grad_norm=None, **kwargs) -> None:
            if is_training and epoch == 0 and batch_number in BATCHES:
                print(line(f"e0 b{batch_number}", measure(model, probe_batch)), flush=True)

        def on_epoch(self, trainer, metrics, epoch, is_primary=True, **kwargs) -> None:
            print(line(f"end e{epoch}", measure(model, probe_batch)), flush=True)
            dev_f1 = metrics.get("validation_example_f1")
            print(f"         dev example-F1 after epoch {epoch}: {dev_f1:.4f}", flush=True)

    trainer._callbacks.append(Probe(trainer._serialization_dir))
    print(line("init", measure(model, probe_batch)), flush=True)
    trainer.train()


if __name__ == "__main__":
    main()
