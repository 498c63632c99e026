// debtags-bow (data/debtags-bow), InfNet+ (docs/methods.md); the dataset's defaults.
local ml = import 'multilabel.libsonnet';
ml.config(ml.datasets['debtags-bow'], ml.methods.infnet_plus)
