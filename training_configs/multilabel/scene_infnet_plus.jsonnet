local ml = import 'multilabel.libsonnet';
ml.config(ml.datasets.scene, ml.methods.infnet_plus)
