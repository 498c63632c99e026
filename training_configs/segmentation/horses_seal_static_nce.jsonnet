local seg = import 'segmentation.libsonnet';
seg.config(seg.datasets.horses, seg.methods.seal_static_nce)
