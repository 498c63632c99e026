local seg = import 'segmentation.libsonnet';
seg.config(seg.datasets.horses, seg.methods.seal_dynamic_nce)
