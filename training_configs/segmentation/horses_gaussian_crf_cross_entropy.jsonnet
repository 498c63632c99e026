// Generated horse masks, a Gaussian CRF over the pixels (issue #39) trained by cross-entropy on its
// optimum: the U-Net of horses_cross_entropy.jsonnet as the unary, a dense Potts pairwise term from
// its decoder features (seal/modules/task_nets/gaussian_crf.py).
local seg = import 'segmentation.libsonnet';
seg.config(seg.with_gaussian_crf(seg.datasets.horses), seg.methods.cross_entropy)
