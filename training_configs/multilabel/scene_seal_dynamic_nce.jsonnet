local ml = import 'multilabel.libsonnet';
ml.config(ml.datasets.scene, ml.methods.seal_dynamic_nce)
