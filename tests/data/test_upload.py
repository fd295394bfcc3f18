"""Uploads: every refusal and every mode conversion, on images made in memory."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFile

from dermviz.data.upload import UploadError, decode_upload


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def rgb(w=96, h=80, colour=(200, 40, 30)) -> Image.Image:
    return Image.new("RGB", (w, h), colour)


def test_rgb_jpeg_and_png():
    out = decode_upload(encode(rgb(), "JPEG", quality=95), filename="lesion.JPG")
    assert out.shape == (80, 96, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - (200, 40, 30)).max() <= 3
    png = decode_upload(encode(rgb(), "PNG"), filename="a/b/lesion.png")
    assert (png == (200, 40, 30)).all() and png.flags.c_contiguous


def test_greyscale_palette_and_cmyk():
    grey = decode_upload(encode(Image.new("L", (70, 70), 77), "PNG"), filename="g.png")
    assert (grey == 77).all() and grey.shape == (70, 70, 3)
    pal = rgb(colour=(10, 200, 90)).convert("P", palette=Image.Palette.ADAPTIVE)
    assert pal.mode == "P"
    assert (decode_upload(encode(pal, "PNG"), filename="p.png") == (10, 200, 90)).all()
    cmyk = Image.new("CMYK", (70, 70), (255, 0, 0, 0))  # pure cyan
    out = decode_upload(encode(cmyk, "JPEG", quality=95), filename="c.jpeg")
    assert np.abs(out.astype(int) - (0, 255, 255)).max() <= 3


def test_transparency_composited_on_white():
    rgba = Image.new("RGBA", (80, 80), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 40, 80))
    rgba.paste((0, 0, 0, 128), (40, 0, 80, 80))
    out = decode_upload(encode(rgba, "PNG"), filename="t.png")
    assert (out[:, :40] == (0, 0, 255)).all()
    assert np.abs(out[:, 40:].astype(int) - 127).max() <= 1  # half black on white
    la = Image.new("LA", (80, 80), (0, 0))
    assert (decode_upload(encode(la, "PNG"), filename="la.png") == 255).all()
    pal = Image.new("P", (80, 80), 1)
    pal.putpalette([0, 0, 0, 9, 9, 9] + [0] * 762)
    out = decode_upload(encode(pal, "PNG", transparency=1), filename="pt.png")
    assert (out == 255).all()


def test_sixteen_bit_greyscale_is_scaled():
    values = np.full((70, 70), 65535, np.uint16)
    values[:, :35] = 257 * 100
    image = Image.fromarray(values)
    assert image.mode.startswith("I")
    out = decode_upload(encode(image, "PNG"), filename="sixteen.png")
    assert (out[:, :35] == 100).all() and (out[:, 35:] == 255).all()


def test_exif_orientation_is_applied():
    image = rgb(120, 80, (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 30, 30))  # white block top-left, landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    out = decode_upload(encode(image, "JPEG", quality=95, exif=exif), filename="cam.jpg")
    assert out.shape == (120, 80, 3)  # portrait now
    assert out[5, -5].mean() > 200 and out[5, 5].mean() < 50  # block moved top-right


@pytest.mark.parametrize(
    ("data", "filename", "options", "match"),
    [
        (b"", "empty.png", {}, "empty"),
        (b"definitely not an image", "x.png", {}, "not an image"),
        (encode(rgb(), "PNG"), "x.gif", {}, "only .jpg"),
        (encode(rgb(), "PNG"), "no_extension", {}, "only .jpg"),
        (encode(rgb(), "JPEG"), "x.png", {}, "extension .png but contains a JPEG"),
        (encode(rgb(), "PNG"), "x.jpg", {}, "extension .jpg but contains a PNG"),
        (encode(rgb(), "PNG"), "x.png", {"max_bytes": 50}, "limit"),
        (encode(rgb(40, 90), "PNG"), "x.png", {}, "at least 64"),
        (encode(rgb(400, 70), "PNG"), "x.png", {}, "longer side"),
        (encode(rgb(200, 200), "PNG"), "x.png", {"max_pixels": 100 * 100}, "pixels"),
    ],
)
def test_refusals(data, filename, options, match):
    with pytest.raises(UploadError, match=match):
        decode_upload(data, filename=filename, **options)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_are_refused(fmt):
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (90, 90, 3), np.uint8))
    data = encode(noisy, fmt)
    with pytest.raises(UploadError, match="truncated or corrupt"):
        decode_upload(data[: len(data) // 2], filename=f"x.{fmt.lower()}")


def test_pixel_limit_is_checked_before_decoding(monkeypatch):
    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(UploadError, match="pixels"):
        decode_upload(encode(rgb(300, 300), "PNG"), filename="x.png", max_pixels=200 * 200)


def test_pillow_bomb_warning_becomes_upload_error(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # 70x70 < 2x the limit: a warning
    with pytest.raises(UploadError, match="too many pixels"):
        decode_upload(encode(rgb(70, 70), "PNG"), filename="x.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # > 2x: Pillow raises
    with pytest.raises(UploadError, match="too many pixels"):
        decode_upload(encode(rgb(70, 70), "PNG"), filename="x.png")


def test_bad_arguments():
    with pytest.raises(TypeError, match="bytes"):
        decode_upload("x.png", filename="x.png")
    with pytest.raises(ValueError, match="max_aspect"):
        decode_upload(encode(rgb(), "PNG"), filename="x.png", max_aspect=0.5)
