"""The HTML case report: its pieces, embedded images, and escaping."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dermviz.analysis.report import case_report_html, png_bytes, png_data_uri
from dermviz.data.thumbnails import encode_jpeg

EVIL = '<script>alert("x")</script>'


@pytest.fixture
def report():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    overlay = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    preds = pd.DataFrame({"member": ["m00", "m01", EVIL], "p_melanoma": [0.91, 0.2, 0.64],
                          "threshold": [0.5, 0.3, 0.7]})
    similar = pd.DataFrame({"image_id": ["ISIC_1", "ISIC_2"], "similarity": [0.987, 0.5],
                            "diagnosis": ["melanoma", "naevus"]})
    html = case_report_html(
        image=image, image_id='lesion"><img src=x onerror=alert(1)>.jpg', predictions=preds,
        overlays={"GradCAM m00": overlay}, similar=similar,
        similar_images={"ISIC_1": encode_jpeg(np.zeros((8, 8, 3), np.uint8))},
        metadata={"site": EVIL, EVIL: "age 50"},
        warnings=["1 of 3 members ranks the hold-out no better than chance", EVIL],
    )
    return html, image, overlay


def embedded_pngs(html: str) -> list[np.ndarray]:
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(b))))
            for b in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)]


def test_report_has_every_piece(report):
    html, image, overlay = report
    assert html.startswith("<!DOCTYPE html>") and html.endswith("</html>")
    pngs = embedded_pngs(html)
    assert len(pngs) == 2
    np.testing.assert_array_equal(pngs[0], image)
    np.testing.assert_array_equal(pngs[1], overlay)
    assert html.count("data:image/jpeg;base64,") == 1  # the one thumbnail given
    # m00 0.91 >= 0.5 melanoma; m01 0.2 < 0.3 and the third 0.64 < 0.7 naevus
    assert "naevus: 1 of 3 members call melanoma" in html
    for text in ("0.910", "0.200", "0.640", "0.500", "0.300", "0.700", "GradCAM m00",
                 "ISIC_1", "ISIC_2", "0.987", "melanoma", "Mean p(melanoma) 0.583"):
        assert text in html, text
    assert "http://" not in html and "https://" not in html  # self-contained
    # warnings stand under the vote, before the members' table
    said = html.index('<p class="warning">Warning: 1 of 3 members ranks the hold-out no better')
    assert html.index("members call melanoma") < said < html.index("<h2>Members</h2>")
    assert html.count('<p class="warning">') == 2


def test_hostile_text_is_escaped(report):
    html, _, _ = report
    assert "<script" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "onerror=alert(1)&gt;" in html


def test_tie_calls_melanoma_and_bad_input():
    preds = pd.DataFrame({"member": ["a", "b"], "p_melanoma": [0.9, 0.1], "threshold": [0.5, 0.5]})
    image = np.zeros((8, 8, 3), np.uint8)
    assert "melanoma: 1 of 2 members" in case_report_html(image=image, image_id="x",
                                                          predictions=preds)
    with pytest.raises(ValueError, match="lack columns"):
        case_report_html(image=image, image_id="x", predictions=preds.drop(columns="threshold"))
    with pytest.raises(ValueError, match="uint8"):
        png_data_uri(np.zeros((8, 8, 3), np.float32))


def test_png_bytes_round_trip():
    image = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    data = png_bytes(image)
    assert data.startswith(b"\x89PNG")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), image)
    with pytest.raises(ValueError, match="uint8"):
        png_bytes(image.astype(np.int16))
