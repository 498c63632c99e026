// Handwritten words (data/ocr/letter.data.gz): train folds 2-9, dev 1, test 0; InfNet+ (docs/methods.md).
local st = import 'sequence_tagging.libsonnet';
st.config(st.datasets.ocr, st.methods.infnet_plus)
