"""`allennlp evaluate` that prints its metrics: AllenNLP 2.10 writes them only with `--output-file`."""
import json
import os
from typing import Any, Dict, Optional, Union

from allennlp.data import DataLoader
from allennlp.evaluation import Evaluator, SimpleEvaluator
from allennlp.models import Model


@Evaluator.register("seal")
class SealEvaluator(SimpleEvaluator):
    """
    AllenNLP's `simple` evaluator that also prints the final metrics of each evaluated file to
    standard output as JSON (the log goes to standard error, so `allennlp evaluate ... > m.json`
    keeps them).  `allennlp evaluate` builds its evaluator from the archived config's `evaluation`
    key, which every config of `training_configs/seal.libsonnet` sets to `{"type": "seal"}` (an
    extension point of the command, so nothing of AllenNLP is patched); for an archive made
    without it, add `-o '{"evaluation": {"type": "seal"}}'` or use `--output-file`.
    """

    def __call__(  # type: ignore[override]
        self,
        model: Model,
        data_loader: DataLoader,
        batch_weight_key: Optional[str] = None,
        metrics_output_file: Union[str, os.PathLike, None] = None,
        predictions_output_file: Union[str, os.PathLike, None] = None,
    ) -> Dict[str, Any]:
        metrics = super().__call__(model, data_loader, batch_weight_key, metrics_output_file, predictions_output_file)
        print(json.dumps(metrics, indent=2), flush=True)
        return metrics
