"""Decoding a user's uploaded image safely, in memory.

An upload is untrusted bytes: :func:`decode_upload` checks size, format and
dimensions before decoding any pixels (decompression bombs are refused from the
header alone), honours the camera's EXIF orientation, and returns plain RGB
``uint8`` whatever the file's mode. Every refusal is an :class:`UploadError`
whose message can be shown to the user as is. Nothing is written to disk.
"""

from __future__ import annotations

import io
import warnings
from pathlib import PurePath

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: Accepted extensions and the Pillow formats each may contain (iPhone JPEGs open as MPO).
FORMATS = {".jpg": ("JPEG", "MPO"), ".jpeg": ("JPEG", "MPO"), ".png": ("PNG",)}
MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 24-megapixel dermatoscope camera fits; bombs do not
MIN_SIDE = 64
MAX_ASPECT = 4.0
_WHITE = (255, 255, 255)


class UploadError(ValueError):
    """An upload was refused; the message says why, in words for the user."""


def decode_upload(
    data: bytes,
    *,
    filename: str,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    min_side: int = MIN_SIDE,
    max_aspect: float = MAX_ASPECT,
) -> np.ndarray:
    """Decode an uploaded JPEG or PNG to an RGB ``uint8`` array.

    Parameters
    ----------
    data : bytes
        The file's content.
    filename : str
        The name the user gave; only its extension is used (no path is opened).
    max_bytes : int
        Largest accepted file.
    max_pixels : int
        Largest accepted width x height, checked from the header before decoding.
    min_side : int
        Smallest accepted width or height.
    max_aspect : float
        Largest accepted ratio of the longer side to the shorter one (>= 1).

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3) uint8``, upright (EXIF orientation applied). Greyscale and
        palette images are expanded, transparency is composited on white, CMYK
        is converted, and 16-bit greyscale is scaled to 8 bits.

    Raises
    ------
    UploadError
        Empty, too large, wrong or mismatched extension, not an image,
        truncated or corrupt, too many pixels, too small, or too elongated.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if max_bytes < 1 or max_pixels < 1 or min_side < 1 or max_aspect < 1:
        raise ValueError("max_bytes, max_pixels and min_side must be >= 1, max_aspect >= 1")
    data = bytes(data)
    suffix = PurePath(str(filename)).suffix.lower()
    if suffix not in FORMATS:
        raise UploadError(f"{filename!r}: only .jpg, .jpeg and .png images are accepted")
    if not data:
        raise UploadError(f"{filename!r} is empty")
    if len(data) > max_bytes:
        raise UploadError(f"{filename!r} is {len(data) / 1e6:.1f} MB; the limit is "
                          f"{max_bytes / 1e6:.1f} MB")
    with warnings.catch_warnings():
        # Pillow's own bomb check only warns below twice its limit: make it refuse.
        # (The filter is process-wide on Python 3.11; the max_pixels check below
        # guards on its own if another thread resets it meanwhile.)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))  # reads the header only
            _check_header(image, filename, suffix, max_pixels, min_side, max_aspect)
            image.load()
            image = ImageOps.exif_transpose(image)
        except UploadError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise UploadError(f"{filename!r} has too many pixels to decode safely") from err
        except UnidentifiedImageError as err:
            raise UploadError(f"{filename!r} is not an image Pillow can read") from err
        except (OSError, SyntaxError, ValueError, EOFError) as err:
            raise UploadError(f"{filename!r} is truncated or corrupt ({err})") from err
    return to_rgb_uint8(image)


def _check_header(
    image: Image.Image, filename: str, suffix: str, max_pixels: int, min_side: int,
    max_aspect: float,
) -> None:
    if image.format not in FORMATS[suffix]:
        raise UploadError(f"{filename!r} has extension {suffix} but contains a "
                          f"{image.format} image")
    width, height = image.size
    if width * height > max_pixels:
        raise UploadError(f"{filename!r} is {width}x{height} = {width * height:,} pixels; "
                          f"the limit is {max_pixels:,}")
    if min(width, height) < min_side:
        raise UploadError(f"{filename!r} is {width}x{height}; both sides must be at least "
                          f"{min_side} pixels")
    if max(width, height) / min(width, height) > max_aspect:
        raise UploadError(f"{filename!r} is {width}x{height}; the longer side may be at most "
                          f"{max_aspect:g} times the shorter")


def to_rgb_uint8(image: Image.Image) -> np.ndarray:
    """Any Pillow image as an ``(H, W, 3) uint8`` RGB array.

    Transparency (alpha channel, or a palette/greyscale/RGB transparent colour)
    is composited on white; 16- and 32-bit integer greyscale is scaled from
    0..65535 to 0..255 (Pillow's own conversion would clip instead).
    """
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        values = np.asarray(image).astype(np.float64)
        grey = np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if image.mode == "F":
        raise UploadError("floating-point images are not supported")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_WHITE, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
