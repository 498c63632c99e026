// debtags-bow (data/debtags-bow), implicit training of the energy (docs/methods.md) with
// contrastive divergence as the loss-net's primary loss; the dataset's defaults, not tuned for this method.
local ml = import 'multilabel.libsonnet';
ml.config(ml.datasets['debtags-bow'], ml.methods.implicit_energy_cd)
