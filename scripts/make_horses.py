"""Generates the horse segmentation data set shipped in data/horses/ (see data/README.md).

Not the Weizmann horse set (which cannot be obtained here): every image is made from real material
that ships inside scikit-image, nothing is downloaded.  The mask is the real horse silhouette
`skimage.data.horse()` (a CC0 drawing) under a random pose: scale, aspect, rotation, shear,
horizontal flip and translation (often cutting the horse at the border), then a smooth elastic
deformation.  The horse is filled with a crop of one photograph or texture and the background with
a crop of another, drawn from the same pool with random channel order and gains, so colour says
nothing about which side a pixel is on (only their mean colours must differ by MIN_COLOUR_GAP, so
that the horse is visible at all); partial occluders (bars, ellipses) cover the scene and are not
horse.  The scene is rendered at `factor` times the output size, blurred, averaged down to size x
size, then changed in contrast, brightness and gamma and given noise.  A mask pixel is 1 where at
least half of its block of the rendered scene is horse.

Each image has its own random stream, `numpy.random.default_rng([seed, split code, index])`, so
the splits never share a stream, a split's first n images are the same whatever its count (the
large variant's train split starts with the small one's), and a rerun is identical.  The `.npz`
files are written with fixed zip metadata (no time stamps), so a rerun reproduces their bytes.

Usage (from the repository root):
    .venv/bin/python scripts/make_horses.py                      # data/horses/{train,dev,test}.npz
    .venv/bin/python scripts/make_horses.py --variant large --splits train --target data/horses-large
"""
import argparse
import functools
import io
import os
import zipfile
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from scipy import ndimage

SPLIT_CODES = {"train": 0, "dev": 1, "test": 2}
VARIANTS = {"small": {"train": 200, "dev": 50, "test": 78}, "large": {"train": 3000, "dev": 50, "test": 78}}
# skimage.data images shipped in the scikit-image wheel, each CC0 or public domain (data/README.md).
TEXTURES = ("astronaut", "brick", "camera", "chelsea", "coffee", "grass", "gravel", "hubble_deep_field", "rocket")
HORSE_FRACTION = (0.1, 0.7)  # accepted share of horse pixels in the rendered scene
MIN_COLOUR_GAP = 0.2  # least distance between the mean RGB (in [0, 1]) of horse and background
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@functools.lru_cache(maxsize=None)
def horse_silhouette() -> np.ndarray:
    """The horse of `skimage.data.horse()` as float32 (328, 400): 1 on the horse, 0 elsewhere."""
    from skimage import data

    return (~data.horse()).astype(np.float32)


@functools.lru_cache(maxsize=None)
def texture(name: str) -> np.ndarray:
    """The skimage.data image `name` as float32 RGB (H, W, 3) in [0, 1] (gray images repeated)."""
    from skimage import data

    image = getattr(data, name)().astype(np.float32) / 255.0
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def render_example(rng: np.random.Generator, size: int = 32, factor: int = 8) -> Tuple[np.ndarray, np.ndarray]:
    """One (image, mask): uint8 (size, size, 3) and uint8 (size, size) of 0/1."""
    canvas = size * factor
    horse = _posed_horse(rng, canvas)
    scene = np.where(horse[..., None], *_fill_and_background(rng, canvas))
    for _ in range(rng.choice(3, p=[0.5, 0.35, 0.15])):
        occluder = _occluder(rng, canvas, horse)
        scene = np.where(occluder[..., None], _texture_crop(rng, TEXTURES[rng.integers(len(TEXTURES))], canvas),
                         scene)
        horse = horse & ~occluder
    sigma = rng.uniform(0.0, 0.5) * factor
    scene = ndimage.gaussian_filter(scene, sigma=(sigma, sigma, 0), truncate=3.0)
    image = _photometric(rng, _block_mean(scene, factor))
    mask = _block_mean(horse.astype(np.float32), factor) >= 0.5
    return image, mask.astype(np.uint8)


def _posed_horse(rng: np.random.Generator, canvas: int) -> np.ndarray:
    """A bool (canvas, canvas) horse under a random affine pose and elastic deformation, redrawn
    until the horse covers a share of the canvas within HORSE_FRACTION."""
    silhouette = horse_silhouette()
    rows, cols = np.nonzero(silhouette)
    centre = np.array([(rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2])
    width = cols.max() - cols.min() + 1
    grid = np.stack(np.meshgrid(np.arange(canvas), np.arange(canvas), indexing="ij")).reshape(2, -1).astype(np.float64)
    while True:
        scale = rng.uniform(0.7, 1.3) * canvas / width
        aspect = np.exp(rng.uniform(-0.15, 0.15))
        angle = np.deg2rad(rng.uniform(-25, 25))
        shear = rng.uniform(-0.25, 0.25)
        flip = rng.choice([-1.0, 1.0])
        # forward map horse -> canvas in (row, col): rotation @ shear @ scale (col scale carries the flip)
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        forward = rotation @ np.array([[1.0, 0.0], [shear, 1.0]]) @ np.diag([scale / aspect, flip * scale * aspect])
        if rng.random() < 0.3:  # push the horse over a border
            direction = rng.uniform(0, 2 * np.pi)
            shift = rng.uniform(0.25, 0.45) * canvas * np.array([np.sin(direction), np.cos(direction)])
        else:
            shift = rng.uniform(-0.15, 0.15, size=2) * canvas
        points = grid + _elastic_field(rng, canvas)
        source = np.linalg.inv(forward) @ (points - (canvas / 2 + shift)[:, None]) + centre[:, None]
        horse = ndimage.map_coordinates(silhouette, source, order=1, cval=0.0).reshape(canvas, canvas) > 0.5
        if HORSE_FRACTION[0] <= horse.mean() <= HORSE_FRACTION[1]:
            return horse


def _fill_and_background(rng: np.random.Generator, canvas: int) -> Tuple[np.ndarray, np.ndarray]:
    """Crops of two different textures for the horse and the background, the background redrawn
    until their mean colours differ by at least MIN_COLOUR_GAP (so the horse is visible at all;
    which side is the horse is left to its shape)."""
    first, second = rng.choice(len(TEXTURES), size=2, replace=False)
    fill = _texture_crop(rng, TEXTURES[first], canvas)
    while True:
        background = _texture_crop(rng, TEXTURES[second], canvas)
        if np.linalg.norm(fill.mean(axis=(0, 1)) - background.mean(axis=(0, 1))) >= MIN_COLOUR_GAP:
            return fill, background
        second = rng.choice([index for index in range(len(TEXTURES)) if index != first])


def _elastic_field(rng: np.random.Generator, canvas: int, knots: int = 5) -> np.ndarray:
    """A smooth displacement (2, canvas * canvas) in pixels: normal values on a knots x knots grid,
    cubic-spline interpolated, of standard deviation 1-5% of the canvas."""
    amplitude = rng.uniform(0.01, 0.05) * canvas
    at = np.linspace(0, knots - 1, canvas)
    rows, cols = np.meshgrid(at, at, indexing="ij")
    fields = [ndimage.map_coordinates(rng.normal(size=(knots, knots)), [rows.ravel(), cols.ravel()], order=3,
                                      mode="nearest") for _ in range(2)]
    return amplitude * np.stack(fields)


def _texture_crop(rng: np.random.Generator, name: str, canvas: int) -> np.ndarray:
    """A random square crop of texture `name` (30-90% of its short side), turned by a multiple of
    90 degrees, maybe mirrored, channels shuffled and scaled: float32 (canvas, canvas, 3)."""
    from skimage.transform import resize

    source = texture(name)
    side = int(rng.uniform(0.3, 0.9) * min(source.shape[:2]))
    top = rng.integers(source.shape[0] - side + 1)
    left = rng.integers(source.shape[1] - side + 1)
    crop = np.rot90(source[top:top + side, left:left + side], k=rng.integers(4))
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    crop = crop[..., rng.permutation(3)] * np.exp(rng.normal(0.0, 0.15, size=3)).astype(np.float32)
    return np.clip(resize(crop, (canvas, canvas), order=1, anti_aliasing=side > canvas), 0, 1).astype(np.float32)


def _occluder(rng: np.random.Generator, canvas: int, horse: np.ndarray) -> np.ndarray:
    """A bool (canvas, canvas) bar or ellipse, centred on a horse pixel with probability 0.7."""
    if rng.random() < 0.7:
        rows, cols = np.nonzero(horse)
        pick = rng.integers(len(rows))
        centre = np.array([rows[pick], cols[pick]], dtype=np.float64)
    else:
        centre = rng.uniform(0, canvas, size=2)
    rows, cols = np.meshgrid(np.arange(canvas) - centre[0], np.arange(canvas) - centre[1], indexing="ij")
    angle = rng.uniform(0, np.pi)
    along = rows * np.cos(angle) + cols * np.sin(angle)
    across = -rows * np.sin(angle) + cols * np.cos(angle)
    if rng.random() < 0.5:
        return np.abs(across) < rng.uniform(0.02, 0.05) * canvas
    radii = rng.uniform(0.06, 0.18, size=2) * canvas
    return (along / radii[0]) ** 2 + (across / radii[1]) ** 2 < 1.0


def _block_mean(array: np.ndarray, factor: int) -> np.ndarray:
    """The mean over factor x factor blocks of the first two axes."""
    height, width = array.shape[0] // factor, array.shape[1] // factor
    return array.reshape(height, factor, width, factor, *array.shape[2:]).mean(axis=(1, 3))


def _photometric(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Contrast, brightness, gamma and Gaussian noise on a float image in [0, 1] -> uint8."""
    contrast = np.exp(rng.uniform(np.log(0.6), np.log(1.2)))
    image = np.clip((image - 0.5) * contrast + 0.5 + rng.uniform(-0.12, 0.12), 0, 1)
    image = image ** np.exp(rng.uniform(-0.35, 0.35))
    image = image + rng.normal(0.0, rng.uniform(0.0, 0.04), size=image.shape)
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def generate_split(split: str, count: int, size: int = 32, factor: int = 8, seed: int = 0) -> Dict[str, np.ndarray]:
    """`{"images": uint8 (count, size, size, 3), "masks": uint8 (count, size, size) of 0/1}`; image
    i of `split` comes from `default_rng([seed, SPLIT_CODES[split], i])`."""
    examples = [render_example(np.random.default_rng([seed, SPLIT_CODES[split], index]), size, factor)
                for index in range(count)]
    return {"images": np.stack([image for image, _ in examples]).reshape(count, size, size, 3),
            "masks": np.stack([mask for _, mask in examples]).reshape(count, size, size)}


def save_npz(path: str, arrays: Dict[str, np.ndarray]) -> None:
    """`np.savez_compressed` with fixed zip metadata (date, permissions, system), so equal arrays
    give equal bytes; `np.load` reads it as usual."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(info, buffer.getvalue(), compresslevel=9)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="data/horses", help="folder for <split>.npz")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="small",
                        help="image counts per split: small 200/50/78, large 3000/50/78 (same dev and test)")
    parser.add_argument("--splits", nargs="+", choices=list(SPLIT_CODES), default=list(SPLIT_CODES))
    for split in SPLIT_CODES:
        parser.add_argument(f"--{split}", type=int, metavar="N", help=f"number of {split} images (overrides --variant)")
    parser.add_argument("--size", type=int, default=32, help="output height and width in pixels")
    parser.add_argument("--factor", type=int, default=8, help="render at factor * size, then average down")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.target, exist_ok=True)
    for split in args.splits:
        count = getattr(args, split) if getattr(args, split) is not None else VARIANTS[args.variant][split]
        arrays = generate_split(split, count, args.size, args.factor, args.seed)
        path = os.path.join(args.target, f"{split}.npz")
        save_npz(path, arrays)
        print(f"{path}: {count} images, horse covers {arrays['masks'].mean():.3f} of the pixels")


if __name__ == "__main__":
    main()
