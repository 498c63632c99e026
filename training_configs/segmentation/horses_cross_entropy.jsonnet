local seg = import 'segmentation.libsonnet';
seg.config(seg.datasets.horses, seg.methods.cross_entropy)
