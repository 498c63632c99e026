// debtags-bow (bibtex-like sparse MEKA ARFF, data/debtags-bow).
local ml = import 'multilabel.libsonnet';
ml.config(ml.datasets['debtags-bow'], ml.methods.cross_entropy)
