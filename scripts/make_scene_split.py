"""Writes the scene split shipped in data/scene/ from ../shared/data/scene.

The shared split takes the last 200 rows of MULAN's official train set (1211 images) as dev, but
that file is sorted by label: its dev set is 200 Urban images and its train set keeps only 24 of
the Urban images, while the official test set has 207.  Validation on it cannot select models.
This script re-splits the official train set (scene-train + scene-dev) at random into 1011 train and
200 dev images (seed 0, the same sizes) and copies the official test set unchanged.

Usage: .venv/bin/python scripts/make_scene_split.py [--source ../shared/data/scene] [--target data/scene]
"""
import argparse
import gzip
import os
import random
import shutil


def read(path):
    with open(path) as handle:
        lines = handle.read().splitlines()
    data_at = next(i for i, line in enumerate(lines) if line.strip().lower() == "@data")
    return lines[: data_at + 1], [line for line in lines[data_at + 1:] if line.strip()]


def write_gz(path, header, rows):
    with gzip.open(path, "wt", compresslevel=9) as handle:
        handle.write("\n".join(header + rows) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default="../shared/data/scene")
    parser.add_argument("--target", default="data/scene")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    header, train = read(os.path.join(args.source, "scene-train.arff"))
    _, dev = read(os.path.join(args.source, "scene-dev.arff"))
    rows = train + dev
    random.Random(args.seed).shuffle(rows)
    os.makedirs(args.target, exist_ok=True)
    write_gz(os.path.join(args.target, "scene-train.arff.gz"), header, rows[: len(train)])
    write_gz(os.path.join(args.target, "scene-dev.arff.gz"), header, rows[len(train):])
    test_header, test = read(os.path.join(args.source, "scene-test.arff"))
    write_gz(os.path.join(args.target, "scene-test.arff.gz"), test_header, test)
    shutil.copy(os.path.join(args.source, "scene.xml"), os.path.join(args.target, "scene.xml"))


if __name__ == "__main__":
    main()
