// Handwritten words (data/ocr/letter.data.gz: train folds 2-9, dev 1, test 0) with the architecture
// of Shevchenko & Osokin (issue #39): a linear-chain CRF whose unary potentials are the LeNet-5-like
// network alone on each letter image (no recurrent layer) and whose pairwise potentials are a 26x26
// transition matrix, trained by the structured SVM with Hamming-loss-augmented Viterbi (docs/crf.md).
// Joint training without scaling; the other regimes are overrides (benchmarks/crf_scaling.py).
local st = import 'sequence_tagging.libsonnet';
st.config(st.with_crf(st.ocr_per_letter), st.methods.crf_objective({ type: 'crf-ssvm' }))
