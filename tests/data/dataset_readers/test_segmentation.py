import re
from pathlib import Path

import numpy as np
import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader
from PIL import Image

from scripts.make_horses import HORSE_FRACTION, VARIANTS, generate_split, render_example, save_npz
from seal.data.dataset_readers.segmentation import (
    SegmentationArraysReader,
    SegmentationFolderReader,
    resize_image,
)

ROOT = Path(__file__).parents[3]
FIXTURES = ROOT / "fixtures" / "segmentation"
TINY = FIXTURES / "tiny.npz"
FOLDER = FIXTURES / "folder"
HORSES = ROOT / "data" / "horses"


def read(reader, path):
    return list(reader.read(str(path)))


def image_of(instance):
    return instance["image"].tensor


def labels_of(instance):
    return instance["labels"].tensor


def fails(path, problem):
    """`pytest.raises` for a ConfigurationError whose message starts with `path` then `problem`."""
    return pytest.raises(ConfigurationError, match="^" + re.escape(str(path)) + problem)


@pytest.fixture(scope="module")
def tiny():
    with np.load(TINY) as arrays:
        return arrays["images"], arrays["masks"]


# ----------------------------------------------------------------------------- arrays reader


def test_npz_instances_hold_the_arrays(tiny):
    images, masks = tiny
    instances = read(SegmentationArraysReader(), TINY)
    assert len(instances) == len(images) == 8
    for index, instance in enumerate(instances):
        assert set(instance.fields) == {"image", "labels", "metadata"}
        image, labels = image_of(instance), labels_of(instance)
        assert image.dtype == torch.float32 and image.shape == (3, 16, 16)
        assert labels.dtype == torch.int64 and labels.shape == (16, 16)
        # channels first; uint8 / 255
        np.testing.assert_allclose(image.numpy(), images[index].transpose(2, 0, 1) / 255.0, rtol=0, atol=1e-7)
        assert image.min() >= 0 and image.max() <= 1
        np.testing.assert_array_equal(labels.numpy(), masks[index])
        assert instance["metadata"].metadata == {"source": f"{TINY}#{index}", "size": (16, 16)}


def test_npy_pair_float_images_and_renamed_keys(tiny, tmp_path):
    images, masks = tiny
    np.save(tmp_path / "x.npy", images.astype(np.float64) / 255.0)
    np.save(tmp_path / "y.npy", masks.astype(bool))
    from_npy = read(SegmentationArraysReader(), f"{tmp_path / 'x.npy'}, {tmp_path / 'y.npy'}")
    np.savez(tmp_path / "renamed.npz", pictures=images, truth=masks)
    renamed = read(SegmentationArraysReader(image_key="pictures", mask_key="truth"), tmp_path / "renamed.npz")
    for ours, npy, other in zip(read(SegmentationArraysReader(), TINY), from_npy, renamed):
        np.testing.assert_allclose(image_of(npy), image_of(ours), atol=1e-6)
        assert torch.equal(image_of(other), image_of(ours))
        assert torch.equal(labels_of(npy), labels_of(ours)) and torch.equal(labels_of(other), labels_of(ours))
    assert from_npy[3]["metadata"]["source"] == f"{tmp_path / 'x.npy'}#3"


def test_masks_of_0_and_255_are_read_as_0_and_1(tiny, tmp_path):
    images, masks = tiny
    np.savez(tmp_path / "white.npz", images=images, masks=masks * 255)
    white = read(SegmentationArraysReader(), tmp_path / "white.npz")
    assert [labels_of(instance).tolist() for instance in white] == [mask.tolist() for mask in masks]


def test_resize_bilinear_image_nearest_mask_height_then_width(tmp_path):
    image = np.zeros((1, 16, 16, 3), dtype=np.uint8)
    image[0, :, :, 0] = np.arange(16)[None, :] * 16  # red rises left to right
    image[0, :4, :, 1] = 255  # green on the top quarter
    image[0, :, :, 2] = 200
    mask = np.zeros((1, 16, 16), dtype=np.uint8)
    mask[0, :, :8] = 1  # left half
    np.savez(tmp_path / "one.npz", images=image, masks=mask)
    instance = read(SegmentationArraysReader(size=(8, 4)), tmp_path / "one.npz")[0]
    resized, labels = image_of(instance), labels_of(instance)
    assert resized.shape == (3, 8, 4) and labels.shape == (8, 4)
    assert instance["metadata"]["size"] == (8, 4)
    assert labels.tolist() == [[1, 1, 0, 0]] * 8
    torch.testing.assert_close(resized[2], torch.full((8, 4), 200 / 255))  # a constant stays constant
    assert (resized[0].diff(dim=1) > 0).all() and (resized[0].diff(dim=0) == 0).all()
    assert (resized[1].diff(dim=1) == 0).all() and resized[1, 0, 0] > 0.9 and resized[1, 4:].max() < 1e-6
    # the same as PIL's own bilinear resize of the uint8 picture (up to its 8-bit rounding)
    pil = np.asarray(Image.fromarray(image[0]).resize((4, 8), Image.Resampling.BILINEAR)) / 255.0
    np.testing.assert_allclose(resized.permute(1, 2, 0).numpy(), pil, atol=1 / 255)


def test_resize_to_the_same_size_is_the_identity():
    image = np.random.default_rng(0).random((5, 7, 3)).astype(np.float32)
    assert resize_image(image, (5, 7)) is image


def test_text_to_instance_without_mask_has_no_labels():
    reader = SegmentationArraysReader(size=(4, 4))
    instance = reader.text_to_instance(np.full((8, 6, 3), 255, dtype=np.uint8))
    assert set(instance.fields) == {"image", "metadata"}
    assert image_of(instance).shape == (3, 4, 4) and torch.allclose(image_of(instance), torch.ones(3, 4, 4))
    assert instance["metadata"].metadata == {"source": "<input>", "size": (4, 4)}


def test_readers_are_registered_and_built_from_params():
    assert DatasetReader.by_name("segmentation-arrays") is SegmentationArraysReader
    reader = DatasetReader.from_params(Params({"type": "segmentation-folder", "size": [16, 12]}))
    assert isinstance(reader, SegmentationFolderReader) and reader._size == (16, 12)
    with pytest.raises(ConfigurationError, match="'size' must be two positive integers"):
        SegmentationArraysReader(size=(16, 0))


def _npz(tmp_path, name="bad.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


IMAGES = np.zeros((3, 4, 5, 3), dtype=np.uint8)
MASKS = np.zeros((3, 4, 5), dtype=np.uint8)


@pytest.mark.parametrize(
    "arrays, problem",
    [
        ({"images": IMAGES}, r": no array 'masks' in this \.npz \(it holds \['images'\]\)"),
        ({"images": IMAGES[..., 0], "masks": MASKS}, r": the images have shape \(3, 4, 5\); expected \(N, H, W, 3\)"),
        ({"images": np.zeros((3, 4, 5, 4), np.uint8), "masks": MASKS}, r": the images have shape \(3, 4, 5, 4\)"),
        ({"images": IMAGES, "masks": MASKS[:, :, :4]}, r": the masks have shape \(3, 4, 4\); expected \(3, 4, 5\)"),
        ({"images": IMAGES, "masks": MASKS[:2]}, r": the masks have shape \(2, 4, 5\); expected \(3, 4, 5\)"),
        ({"images": IMAGES[:0], "masks": MASKS[:0]}, r": the data set is empty \(no images\)"),
    ],
)
def test_bad_arrays_name_the_file(tmp_path, arrays, problem):
    path = _npz(tmp_path, **arrays)
    with fails(path, problem):
        read(SegmentationArraysReader(), path)


def _with(array, index, value, where=(0, 0)):
    changed = array.copy()
    changed[(index, *where)] = value
    return changed


@pytest.mark.parametrize(
    "images, masks, problem",
    [
        (IMAGES, _with(MASKS, 2, 2), r"#2: the mask is not binary: its values are 0, 2; expected 0/1 \(or 0/255"),
        (IMAGES, _with(_with(MASKS, 1, 1), 1, 255, (1, 1)), r"#1: the mask is not binary: its values are 0, 1, 255"),
        (IMAGES.astype(np.float32), _with(MASKS.astype(np.float32), 2, 0.5), r"#2: the mask is not binary"),
        (_with(IMAGES.astype(np.float32), 1, 1.5, (2, 3, 1)), MASKS,
         r"#1: float image values must be in \[0, 1\], found 1.5 at row 2, column 3, channel 1"),
        (_with(IMAGES.astype(np.float32), 0, np.nan), MASKS, r"#0: float image values must be in \[0, 1\], found nan"),
        (_with(IMAGES.astype(np.int64), 2, 300), MASKS, r"#2: integer image values must be 0-255, found 0 to 300"),
        (IMAGES.astype(bool), MASKS, r"#0: the image has dtype bool; expected uint8"),
    ],
)
def test_bad_values_name_the_file_and_index(tmp_path, images, masks, problem):
    path = _npz(tmp_path, images=images, masks=masks)
    with fails(path, problem):
        read(SegmentationArraysReader(), path)


def test_unreadable_array_files(tmp_path):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is no zip archive")
    with fails(corrupt, r": cannot read it as an \.npz file of arrays"):
        read(SegmentationArraysReader(), corrupt)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(TINY.read_bytes()[:-200])
    with fails(truncated, r": cannot read it as an \.npz file of arrays"):
        read(SegmentationArraysReader(), truncated)
    with fails(tmp_path / "missing.npz", r": cannot read it as an \.npz file of arrays \(\[Errno 2\]"):
        read(SegmentationArraysReader(), tmp_path / "missing.npz")
    np.save(tmp_path / "images.npy", IMAGES)
    (tmp_path / "masks.npy").write_bytes(b"\x93NUMPY broken")
    pair = f"{tmp_path / 'images.npy'},{tmp_path / 'masks.npy'}"
    with fails(tmp_path / "masks.npy", r": cannot read it as an \.npy array"):
        read(SegmentationArraysReader(), pair)
    with fails(tmp_path / "images.npy", r": expected an \.npz file or two \.npy files joined by a comma"):
        read(SegmentationArraysReader(), tmp_path / "images.npy")


def test_text_to_instance_checks_its_arrays():
    reader = SegmentationArraysReader()
    with fails("mine.png", r": the mask is 4x4 but the image is 4x5 \(height x width\)"):
        reader.text_to_instance(IMAGES[0], MASKS[0, :, :4], source="mine.png")
    with fails("<input>", r": the image has shape \(4, 5\); expected \(H, W, 3\)"):
        reader.text_to_instance(IMAGES[0, ..., 0])
    with fails("<input>", r": the mask has shape \(4, 5, 1\); expected \(H, W\)"):
        reader.text_to_instance(IMAGES[0], MASKS[0, ..., None])


# ----------------------------------------------------------------------------- folder reader

# (file, its mask, height x width as stored): the fixture's pictures, in file-name order
FOLDER_FILES = [
    ("a.png", "a.png", (20, 24)),  # RGB; mask 0/1 grey
    ("b.jpg", "b.png", (16, 16)),  # JPEG; mask 0/255 grey
    ("c.png", "c.png", (12, 10)),  # grey picture; mask 1-bit
    ("d.png", "d.png", (18, 14)),  # RGBA; mask palette indices 0/1
]


def test_folder_instances_are_resized_pictures_and_masks():
    instances = read(SegmentationFolderReader(size=(16, 16)), FOLDER)
    assert [instance["metadata"]["source"] for instance in instances] == [
        str(FOLDER / "images" / name) for name, _, _ in FOLDER_FILES
    ]
    for instance, (name, mask_name, stored) in zip(instances, FOLDER_FILES):
        with Image.open(FOLDER / "images" / name) as picture:
            assert picture.size[::-1] == stored
            expected = np.asarray(picture.convert("RGB").resize((16, 16), Image.Resampling.BILINEAR)) / 255.0
        with Image.open(FOLDER / "masks" / mask_name) as picture:
            mask = np.asarray(picture)
        binary = (mask > 0).astype(np.uint8)
        expected_mask = np.asarray(Image.fromarray(binary).resize((16, 16), Image.Resampling.NEAREST))
        assert image_of(instance).dtype == torch.float32 and image_of(instance).shape == (3, 16, 16)
        np.testing.assert_allclose(image_of(instance).permute(1, 2, 0).numpy(), expected, atol=1 / 255)
        assert labels_of(instance).dtype == torch.int64
        np.testing.assert_array_equal(labels_of(instance).numpy(), expected_mask)
        assert 0 < labels_of(instance).sum() < 16 * 16
        assert instance["metadata"]["size"] == (16, 16)


def test_folder_names_are_configurable(tmp_path):
    (tmp_path / "pictures").symlink_to(FOLDER / "images")
    (tmp_path / "truth").symlink_to(FOLDER / "masks")
    renamed = read(SegmentationFolderReader(size=(8, 8), image_folder="pictures", mask_folder="truth"), tmp_path)
    plain = read(SegmentationFolderReader(size=(8, 8)), FOLDER)
    assert len(renamed) == 4
    for one, other in zip(renamed, plain):
        assert torch.equal(image_of(one), image_of(other)) and torch.equal(labels_of(one), labels_of(other))


def _folder(tmp_path, pictures):
    """A folder of `{"images/x.png": array, ...}` PNGs (and raw bytes written as they are)."""
    for name, content in pictures.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            Image.fromarray(content).save(path)
    (tmp_path / "images").mkdir(exist_ok=True)
    (tmp_path / "masks").mkdir(exist_ok=True)
    return tmp_path


RGB = np.full((6, 5, 3), 100, dtype=np.uint8)
MASK = np.eye(6, 5, dtype=np.uint8)


@pytest.mark.parametrize(
    "pictures, named, problem",
    [
        ({"images/a.png": RGB, "images/b.png": RGB, "masks/a.png": MASK}, "images/b.png",
         r": no mask for this image in .*masks \(expected b\.png\)"),
        ({"images/a.png": RGB, "masks/a.png": MASK[:5]}, "images/a.png",
         r": the image is 6x5 but its mask .*masks/a\.png is 5x5 \(height x width\); they must match"),
        ({"images/a.png": RGB, "masks/a.png": MASK * 3}, "masks/a.png",
         r": the mask is not binary: its values are 0, 3"),
        ({"images/a.png": RGB, "masks/a.png": RGB}, "masks/a.png", r": the mask is not binary: its values are 100"),
        ({"images/a.png": RGB, "masks/a.png": np.dstack([MASK, MASK, 1 - MASK]) * 255}, "masks/a.png",
         r": the mask is a colour picture"),
        ({"images/a.png": b"\x89PNG\r\n\x1a\n broken", "masks/a.png": MASK}, "images/a.png",
         r": cannot read it as an image"),
        ({"images/a.png": RGB, "masks/a.png": b"not a picture"}, "masks/a.png", r": cannot read it as an image"),
        ({"images/a.png": RGB, "images/a.jpg": RGB, "masks/a.png": MASK}, "images/a.png",
         r": .*images/a\.jpg has the same name; which one to use is ambiguous"),
        ({"images/notes.txt": b"no pictures here"}, "", r": the data set is empty \(no images\)"),
    ],
)
def test_bad_folders_name_the_file(tmp_path, pictures, named, problem):
    folder = _folder(tmp_path, pictures)
    path = folder / named if named else folder
    with fails(path, problem):
        read(SegmentationFolderReader(size=(4, 4)), folder)


def test_folder_without_masks_folder(tmp_path):
    (tmp_path / "images").mkdir()
    with fails(tmp_path / "masks", r": no such folder \(a segmentation folder holds images/ and masks/\)"):
        read(SegmentationFolderReader(size=(4, 4)), tmp_path)


# -------------------------------------------------------------------------------- generator


def test_generator_is_deterministic_and_its_masks_binary(tmp_path):
    first = generate_split("train", 6, size=16, factor=4)
    again = generate_split("train", 6, size=16, factor=4)
    assert first["images"].shape == (6, 16, 16, 3) and first["images"].dtype == np.uint8
    assert first["masks"].shape == (6, 16, 16) and first["masks"].dtype == np.uint8
    for key in ("images", "masks"):
        np.testing.assert_array_equal(first[key], again[key])
    assert set(np.unique(first["masks"])) == {0, 1}
    fractions = first["masks"].mean(axis=(1, 2))
    # the rendered horse covers HORSE_FRACTION of the scene; averaging down moves it a little
    assert (fractions > HORSE_FRACTION[0] / 2).all() and (fractions < HORSE_FRACTION[1] + 0.1).all()
    assert first["images"].std() > 20  # textures, not a blank canvas
    save_npz(tmp_path / "one.npz", first)
    save_npz(tmp_path / "two.npz", again)
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    with np.load(tmp_path / "one.npz") as loaded:
        np.testing.assert_array_equal(loaded["images"], first["images"])


def test_generator_streams_per_split_and_index():
    shorter = generate_split("dev", 2, size=16, factor=4)
    longer = generate_split("dev", 3, size=16, factor=4)
    np.testing.assert_array_equal(shorter["images"], longer["images"][:2])
    other = generate_split("test", 2, size=16, factor=4)
    assert not np.array_equal(shorter["masks"], other["masks"])
    image, mask = render_example(np.random.default_rng([0, 1, 1]), size=16, factor=4)
    np.testing.assert_array_equal(image, longer["images"][1])


def test_shipped_horses_are_what_the_generator_makes():
    for split, count in VARIANTS["small"].items():
        with np.load(HORSES / f"{split}.npz") as arrays:
            images, masks = arrays["images"], arrays["masks"]
        assert images.shape == (count, 32, 32, 3) and images.dtype == np.uint8
        assert masks.shape == (count, 32, 32) and masks.dtype == np.uint8
        assert set(np.unique(masks)) == {0, 1}
    remade = generate_split("test", 2)
    np.testing.assert_array_equal(remade["masks"], masks[:2])
    # the same images up to a float rounding that may land on the other side of a grey level
    assert np.abs(remade["images"].astype(int) - images[:2]).max() <= 1
