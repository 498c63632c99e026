// Handwritten words (data/ocr/letter.data.gz), implicit training of the energy (docs/methods.md)
// with contrastive divergence as the primary loss; entropy_weight 1 as in ocr_seal_dynamic_nce.jsonnet, whose
// task-net step is this method's inner problem.
local st = import 'sequence_tagging.libsonnet';
st.config(st.datasets.ocr + { entropy_weight: 1 }, st.methods.implicit_energy_cd)
