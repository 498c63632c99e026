local ml = import 'multilabel.libsonnet';
ml.config(ml.datasets.scene, ml.methods.implicit_energy_nce)
