"""Dataset readers for binary image segmentation (one label per pixel: 1 object, 0 background).

Two layouts: `segmentation-arrays` reads the layout of the SEAL / DVN experiments (an `.npz` of
an image and a mask array, or a pair of `.npy` files); `segmentation-folder` reads a folder of
image files with same-named mask files, which is how people keep their own data.  Both give the
same instances (see `SegmentationReader`).
"""
import os
import zipfile
import zlib
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import numpy as np
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Instance
from allennlp.data.fields import Field, MetadataField, TensorField
from PIL import Image

from seal.data.dataset_readers.checked import CheckedDatasetReader

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
PAIR_SEPARATOR = ","
# what np.load and zip members raise on a damaged or foreign file
_ARRAY_FILE_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


class SegmentationReader(CheckedDatasetReader):
    """
    The instances both segmentation readers make, one per image:

    - `"image"`: `TensorField`, float32 `(3, H, W)`, values in [0, 1] (channels first, as
      convolutions want them),
    - `"labels"`: `TensorField`, int64 `(H, W)`, 1 on the object, 0 on the background (absent when
      no mask is given, as in prediction),
    - `"metadata"`: `MetadataField({"source": str, "size": (H, W)})`, `source` the image's file
      (`"<file>#<index>"` for arrays).

    Images may be uint8 (0-255), another integer type with values in 0-255, or floating point in
    [0, 1]; RGB only.  Masks must be binary per image: values in {0, 1}, or in {0, 255} (a mask
    saved as a black-and-white picture), which is mapped to {0, 1}; bool masks are fine.  Any other
    value (e.g. both 1 and 255, or the grey edges of a JPEG mask) is an error.  Every error is a
    `ConfigurationError` naming the file (and index).

    # Parameters

    size : `Optional[Tuple[int, int]]`, optional (default = `None`)
        `(H, W)` to resize every image (bilinear, antialiased when shrinking) and mask (nearest) to;
        `None` keeps the size as read.
    **kwargs
        Passed to `DatasetReader` (e.g. `max_instances`); manual sharding is always on.
    """

    empty_data = "no images"

    def __init__(self, size: Optional[Tuple[int, int]] = None, **kwargs: Any) -> None:
        kwargs.update(manual_distributed_sharding=True, manual_multiprocess_sharding=True)
        super().__init__(**kwargs)
        if size is not None:
            size = tuple(size)
            if len(size) != 2 or not all(isinstance(side, int) and side > 0 for side in size):
                raise ConfigurationError(f"'size' must be two positive integers (height, width), got {size!r}")
        self._size = size

    @property
    def size(self) -> Optional[Tuple[int, int]]:
        """The configured `(H, W)` every image is resized to, or `None` (images keep their size)."""
        return self._size

    def text_to_instance(  # type: ignore[override]
        self,
        image: Union[np.ndarray, List[List[List[float]]], None] = None,
        mask: Optional[np.ndarray] = None,
        source: Optional[str] = None,
        image_path: Optional[str] = None,
    ) -> Instance:
        """
        An instance of one image, given as exactly one of `image` or `image_path`:

        - `image` `(H, W, 3)` (uint8 or integer 0-255, or float in [0, 1]), an array or nested
          lists (rows of pixels `[r, g, b]`, as in a JSON prediction input: all integers are read
          as 0-255, any non-integer number makes the whole image floats in [0, 1]);
        - `image_path`: an image file (PNG, JPEG, BMP, TIFF, ...; relative to the working
          directory), read as RGB as `segmentation-folder` reads its images.

        `mask` (optional) `(H, W)` binary as the class says, `source` names the image in errors and
        in the metadata (default: `image_path`, else `"<input>"`).  Both are resized to `size` when
        it is set.
        """
        if (image is None) == (image_path is None):
            raise ConfigurationError(
                f"give either 'image' (an H x W x 3 array or nested list of RGB pixels) or 'image_path' (an image "
                f"file), {'not both' if image is not None else 'found neither'}"
            )
        if image_path is not None:
            source = source if source is not None else str(image_path)
            image = read_image(str(image_path))
        source = source if source is not None else "<input>"
        pixels = image_as_float(_as_array(image, source), source)
        fields: Dict[str, Field] = {}
        if mask is not None:
            binary = mask_as_binary(np.asarray(mask), source)
            if binary.shape != pixels.shape[:2]:
                raise ConfigurationError(
                    f"{source}: the mask is {binary.shape[0]}x{binary.shape[1]} but the image is "
                    f"{pixels.shape[0]}x{pixels.shape[1]} (height x width); they must match"
                )
            if self._size is not None:
                binary = resize_mask(binary, self._size)
            fields["labels"] = TensorField(torch.tensor(binary, dtype=torch.long), padding_value=0)
        if self._size is not None:
            pixels = resize_image(pixels, self._size)
        fields["image"] = TensorField(torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))))
        fields["metadata"] = MetadataField({"source": source, "size": tuple(pixels.shape[:2])})
        return Instance(fields)


@DatasetReader.register("segmentation-arrays")
class SegmentationArraysReader(SegmentationReader):
    """
    Reads images `(N, H, W, 3)` and masks `(N, H, W)` from arrays (instances: `SegmentationReader`).
    The data path is either an `.npz` file holding both (keys `image_key`, `mask_key`), or two
    `.npy` files joined by a comma, `"images.npy,masks.npy"`.  Shapes are checked once (ranks,
    3 channels, one mask per image of the image's size, the keys present), values image by image
    as it is read (only this shard's images).

    # Parameters

    image_key : `str`, optional (default = `"images"`)
    mask_key : `str`, optional (default = `"masks"`)
    **kwargs
        Passed to `SegmentationReader` (`size`, `max_instances`, ...).
    """

    def __init__(self, image_key: str = "images", mask_key: str = "masks", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._image_key = image_key
        self._mask_key = mask_key

    def _read(self, file_path: str) -> Iterable[Instance]:
        images, masks, name = self._arrays(str(file_path))
        for index in self.shard_iterable(range(len(images))):
            yield self.text_to_instance(images[index], masks[index], f"{name}#{index}")

    def _arrays(self, file_path: str) -> Tuple[np.ndarray, np.ndarray, str]:
        """(images, masks, the name of the images' file), their shapes checked."""
        paths = [path.strip() for path in file_path.split(PAIR_SEPARATOR)]
        if len(paths) == 1 and paths[0].endswith(".npz"):
            arrays = _load_npz(paths[0], [self._image_key, self._mask_key])
            images, masks = arrays[self._image_key], arrays[self._mask_key]
            image_name = mask_name = paths[0]
        elif len(paths) == 2 and all(path.endswith(".npy") for path in paths):
            image_name, mask_name = paths
            images, masks = _load_npy(image_name), _load_npy(mask_name)
        else:
            raise ConfigurationError(
                f"{file_path}: expected an .npz file or two .npy files joined by a comma "
                "('images.npy,masks.npy')"
            )
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ConfigurationError(
                f"{image_name}: the images have shape {images.shape}; expected (N, H, W, 3), RGB channels last"
            )
        if masks.shape != images.shape[:3]:
            raise ConfigurationError(
                f"{mask_name}: the masks have shape {masks.shape}; expected {images.shape[:3]}, "
                f"one (H, W) mask per image of {image_name}"
            )
        return images, masks, image_name


@DatasetReader.register("segmentation-folder")
class SegmentationFolderReader(SegmentationReader):
    """
    Reads a folder holding `image_folder/` and `mask_folder/` (instances: `SegmentationReader`).
    Each image file (PNG, JPEG, BMP or TIFF; other files and hidden files are ignored) needs the
    mask file of the same name up to the extension (`images/a.jpg` -> `masks/a.png`); the images
    are read in file-name order, as RGB (grey or palette images are converted, an alpha channel
    dropped).  A mask is read as stored: one channel (or equal RGB channels), palette masks as
    their indices; save masks losslessly (PNG), since JPEG makes edge pixels neither 0 nor 255.
    Image and mask must have the same size; both are then resized to `size`.

    # Parameters

    size : `Tuple[int, int]`
        `(H, W)` every image and mask is resized to (the images of a folder need not share a size).
    image_folder : `str`, optional (default = `"images"`)
    mask_folder : `str`, optional (default = `"masks"`)
    **kwargs
        Passed to `DatasetReader` (e.g. `max_instances`).
    """

    def __init__(
        self, size: Tuple[int, int], image_folder: str = "images", mask_folder: str = "masks", **kwargs: Any
    ) -> None:
        super().__init__(size=size, **kwargs)
        self._image_folder = image_folder
        self._mask_folder = mask_folder

    def _read(self, file_path: str) -> Iterable[Instance]:
        image_dir = os.path.join(str(file_path), self._image_folder)
        mask_dir = os.path.join(str(file_path), self._mask_folder)
        masks = _files_by_stem(mask_dir)
        for image_path in self.shard_iterable(sorted(_files_by_stem(image_dir).values())):
            stem = os.path.splitext(os.path.basename(image_path))[0]
            if stem not in masks:
                raise ConfigurationError(f"{image_path}: no mask for this image in {mask_dir} (expected {stem}.png)")
            image = read_image(image_path)
            mask = _read_picture(masks[stem], None)
            if mask.shape[:2] != image.shape[:2]:
                raise ConfigurationError(
                    f"{image_path}: the image is {image.shape[0]}x{image.shape[1]} but its mask {masks[stem]} is "
                    f"{mask.shape[0]}x{mask.shape[1]} (height x width); they must match"
                )
            binary = mask_as_binary(_single_channel(mask, masks[stem]), masks[stem])
            yield self.text_to_instance(image, binary, image_path)


# ------------------------------------------------------------------------------------ arrays


def image_as_float(image: np.ndarray, source: str) -> np.ndarray:
    """`image` `(H, W, 3)` checked and as float32 in [0, 1] (integers are divided by 255)."""
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ConfigurationError(f"{source}: the image has shape {image.shape}; expected (H, W, 3), RGB channels last")
    if image.dtype.kind in "ui":
        if image.size and (image.min() < 0 or image.max() > 255):
            raise ConfigurationError(
                f"{source}: integer image values must be 0-255, found {image.min()} to {image.max()}"
            )
        return image.astype(np.float32) / 255.0
    if image.dtype.kind != "f":
        raise ConfigurationError(f"{source}: the image has dtype {image.dtype}; expected uint8 (0-255) or float (0-1)")
    pixels = image.astype(np.float32)
    outside = np.flatnonzero(~((pixels >= 0) & (pixels <= 1)))
    if len(outside):
        row, column, channel = np.unravel_index(outside[0], pixels.shape)
        raise ConfigurationError(
            f"{source}: float image values must be in [0, 1], found {image[row, column, channel]} at "
            f"row {row}, column {column}, channel {channel}"
        )
    return pixels


def _as_array(image: Any, source: str) -> np.ndarray:
    """`image` as an array of numbers (nested lists must be regular: rows of equal length, pixels
    of equal length); its shape and values are checked by `image_as_float`."""
    if isinstance(image, np.ndarray):
        return image
    try:
        array = np.asarray(image)
    except ValueError:  # ragged nested lists
        array = None
    if array is None or array.dtype.kind not in "buif":
        raise ConfigurationError(
            f"{source}: the image is not a regular array of numbers; expected H x W x 3 nested lists "
            "(H rows of W pixels [r, g, b], every row of the same length)"
        )
    return array


def mask_as_binary(mask: np.ndarray, source: str) -> np.ndarray:
    """`mask` `(H, W)` checked and as uint8 0/1 ({0, 255} is mapped to {0, 1})."""
    if mask.ndim != 2:
        raise ConfigurationError(f"{source}: the mask has shape {mask.shape}; expected (H, W)")
    if mask.dtype.kind not in "buif":
        raise ConfigurationError(f"{source}: the mask has dtype {mask.dtype}; expected 0/1 (or 0/255) numbers")
    values = np.unique(mask)
    for high in (1, 255):
        if np.isin(values, (0, high)).all():
            return (mask == high).astype(np.uint8)
    shown = ", ".join(str(value) for value in values[:6]) + (", ..." if len(values) > 6 else "")
    raise ConfigurationError(
        f"{source}: the mask is not binary: its values are {shown}; expected 0/1 (or 0/255, read as 0/1)"
    )


def resize_image(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Float `(H, W, C)` resized to `size` `(H', W')` bilinearly (PIL, antialiased when shrinking)."""
    if image.shape[:2] == tuple(size):
        return image
    channels = [Image.fromarray(np.ascontiguousarray(image[..., channel], dtype=np.float32))
                for channel in range(image.shape[-1])]
    channels = [np.asarray(channel.resize(size[::-1], Image.Resampling.BILINEAR)) for channel in channels]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0)


def resize_mask(mask: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """uint8 `(H, W)` resized to `size` `(H', W')` by nearest neighbour."""
    if mask.shape == tuple(size):
        return mask
    return np.asarray(Image.fromarray(mask).resize(size[::-1], Image.Resampling.NEAREST))


def _load_npz(path: str, keys: List[str]) -> Dict[str, np.ndarray]:
    """The arrays `keys` of the `.npz` file `path`."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in keys if key not in archive.files]
            if missing:
                raise ConfigurationError(
                    f"{path}: no array {missing[0]!r} in this .npz (it holds {sorted(archive.files)}); "
                    "set 'image_key' and 'mask_key' to its names"
                )
            return {key: archive[key] for key in keys}
    except _ARRAY_FILE_ERRORS as error:
        raise ConfigurationError(f"{path}: cannot read it as an .npz file of arrays ({error})") from None


def _load_npy(path: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except _ARRAY_FILE_ERRORS as error:
        raise ConfigurationError(f"{path}: cannot read it as an .npy array ({error})") from None


# ----------------------------------------------------------------------------------- folders


def _files_by_stem(folder: str) -> Dict[str, str]:
    """{file name without extension: path} of the image files in `folder`."""
    if not os.path.isdir(folder):
        raise ConfigurationError(f"{folder}: no such folder (a segmentation folder holds images/ and masks/)")
    found: Dict[str, str] = {}
    for name in sorted(os.listdir(folder)):
        stem, extension = os.path.splitext(name)
        if name.startswith(".") or extension.lower() not in IMAGE_EXTENSIONS:
            continue
        path = os.path.join(folder, name)
        if stem in found:
            raise ConfigurationError(f"{path}: {found[stem]} has the same name; which one to use is ambiguous")
        found[stem] = path
    return found


def read_image(path: str) -> np.ndarray:
    """The image file `path` as uint8 RGB `(H, W, 3)` (grey or palette images converted, an alpha
    channel dropped); `ConfigurationError` naming the file if it is missing or not an image."""
    if not os.path.isfile(path):
        raise ConfigurationError(
            f"{path}: no such image file (a relative path is read from the working directory, {os.getcwd()})"
        )
    return _read_picture(path, "RGB")


def _read_picture(path: str, mode: Optional[str]) -> np.ndarray:
    """The picture file `path` as an array, converted to `mode` if given (else as stored)."""
    try:
        with Image.open(path) as picture:
            picture.load()
            return np.asarray(picture.convert(mode) if mode else picture)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise ConfigurationError(f"{path}: cannot read it as an image ({error})") from None


def _single_channel(mask: np.ndarray, path: str) -> np.ndarray:
    """A mask picture as (H, W): one channel as is, RGB(A) only if its colour channels are equal."""
    if mask.ndim == 3:
        if not (mask[..., :3] == mask[..., :1]).all():
            raise ConfigurationError(f"{path}: the mask is a colour picture; expected black and white (0/1 or 0/255)")
        mask = mask[..., 0]
    return mask
