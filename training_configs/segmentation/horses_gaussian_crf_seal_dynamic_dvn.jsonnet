// Generated horse masks, SEAL-dynamic DVN with the Gaussian CRF of
// horses_gaussian_crf_cross_entropy.jsonnet as its task-net: the loss-net regresses onto the soft
// IoU of the CRF's masks and the CRF learns from it and from cross-entropy.
local seg = import 'segmentation.libsonnet';
seg.config(seg.with_gaussian_crf(seg.datasets.horses), seg.methods.seal_dynamic_dvn)
