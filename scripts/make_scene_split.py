"""Writes the scene split shipped in data/scene/ from MULAN's scene files (a folder holding
scene-train.arff, scene-dev.arff, scene-test.arff and scene.xml, as data/README.md describes).

The shared split takes the last 200 rows of MULAN's official train set (1211 images) as dev, but
that file is sorted by label: its dev set is 200 Urban images and its train set keeps only 24 of
the Urban images, while the official test set has 207.  Validation on it cannot select models.
This script re-splits the official train set (scene-train + scene-dev) at random into 1011 train and
200 dev images (seed 0, the same sizes) and copies the official test set unchanged.

Usage: .venv/bin/python scripts/make_scene_split.py --source DIR [--target data/scene]
The gzip files carry no time stamp or name, so a rerun writes the same bytes.
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
    text = ("\n".join(header + rows) + "\n").encode("utf-8")
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as out:
        out.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True, help="the folder of the original scene files")
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
