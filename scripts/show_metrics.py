"""Prints the test metrics of a finished `allennlp train` run (its metrics.json) as a table.

Usage: .venv/bin/python scripts/show_metrics.py SERIALIZATION_DIR [--prefix test_]
"""
import argparse
import json
import os


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("serialization_dir")
    parser.add_argument("--prefix", default="test_")
    args = parser.parse_args()
    with open(os.path.join(args.serialization_dir, "metrics.json")) as handle:
        metrics = json.load(handle)
    rows = {k[len(args.prefix):]: v for k, v in metrics.items() if k.startswith(args.prefix)}
    if not rows:
        raise SystemExit(f"no '{args.prefix}*' metrics in {args.serialization_dir}/metrics.json")
    print(f"{args.prefix.rstrip('_')} metrics of {args.serialization_dir} (best epoch {metrics.get('best_epoch')}):")
    for name, value in rows.items():
        print(f"  {name:<18} {value:.4f}" if isinstance(value, float) else f"  {name:<18} {value}")


if __name__ == "__main__":
    main()
