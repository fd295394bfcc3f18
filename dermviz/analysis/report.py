"""A one-page, self-contained HTML case report for one lesion.

Everything is inside the file: images are embedded as base64 PNG (thumbnails of
similar cases as their JPEG bytes), styles are inline, nothing is fetched. Every
text value (ids, metadata, member names) is HTML-escaped, so a hostile file
name or metadata field cannot inject markup.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from dermviz.analysis.errors import majority_vote

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:60em;margin:1em auto;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.2em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}
figure{display:inline-block;margin:.3em;text-align:center}img{max-width:15em}
.vote{font-size:1.2em;font-weight:bold}.note{color:#666;font-size:.85em}
.warning{background:#fff4d6;border-left:.3em solid #e0a800;padding:.4em .6em}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def png_bytes(image: np.ndarray) -> bytes:
    """The PNG file of a ``uint8`` (H, W) or (H, W, 3|4) image (e.g. an overlay to download)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (
            image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"expected a uint8 (H, W[, 3|4]) image, got {image.shape} {image.dtype}")
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG")
    return buf.getvalue()


def png_data_uri(image: np.ndarray) -> str:
    """A ``data:image/png;base64,...`` URI of a ``uint8`` (H, W) or (H, W, 3|4) image."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def _image_uri(image: bytes | np.ndarray) -> str:
    if isinstance(image, bytes):  # an encoded thumbnail: JPEG or PNG as stored
        kind = "png" if image.startswith(b"\x89PNG") else "jpeg"
        return f"data:image/{kind};base64," + base64.b64encode(image).decode("ascii")
    return png_data_uri(image)


def _figure(image: bytes | np.ndarray, caption: str) -> str:
    return (f'<figure><img src="{_image_uri(image)}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f"<table><tr>{head}</tr>{rows}</table>"


def case_report_html(
    *,
    image: np.ndarray,
    image_id: str,
    predictions: pd.DataFrame,
    overlays: Mapping[str, np.ndarray] | None = None,
    similar: pd.DataFrame | None = None,
    similar_images: Mapping[str, bytes | np.ndarray] | None = None,
    metadata: Mapping[str, Any] | None = None,
    warnings: Sequence[str] = (),
    title: str = "dermviz case report",
) -> str:
    """Render the case report as one HTML string.

    Parameters
    ----------
    image : ndarray
        The lesion, ``uint8`` RGB.
    image_id : str
        Its id or file name.
    predictions : pandas.DataFrame
        One row per member: ``member, p_melanoma, threshold``.
    overlays : mapping of str -> ndarray, optional
        Captioned saliency overlays (``uint8`` RGB), e.g. ``{"GradCAM m00": ...}``.
    similar : pandas.DataFrame, optional
        Similar training cases, in rank order, with at least ``image_id`` and
        ``similarity``; other columns (e.g. ``diagnosis``) are shown too.
    similar_images : mapping of image id -> JPEG/PNG bytes or ndarray, optional
        Thumbnails of the similar cases.
    metadata : mapping, optional
        Free-form facts shown in a table (age, site, source file...).
    warnings : sequence of str
        Sentences shown under the vote, as the pages show them beside it (e.g. the members
        no better than chance, :func:`dermviz.analysis.errors.chance_sentence`).
    title : str
        The page title.

    Returns
    -------
    str
        A complete HTML document.
    """
    missing = {"member", "p_melanoma", "threshold"} - set(predictions.columns)
    if missing:
        raise ValueError(f"predictions lack columns {sorted(missing)}")
    if predictions.empty:
        raise ValueError("predictions has no members")
    if similar is not None and not {"image_id", "similarity"} <= set(similar.columns):
        raise ValueError("similar must have image_id and similarity columns")
    p = predictions["p_melanoma"].to_numpy(dtype=float)
    called = p >= predictions["threshold"].to_numpy(dtype=float)
    vote = "melanoma" if majority_vote(called.sum(), len(called)) else "naevus"
    sd = f" (sd {np.std(p, ddof=1):.3f})" if len(p) > 1 else ""
    members = pd.DataFrame({
        "member": predictions["member"].astype(str),
        "p(melanoma)": [f"{v:.3f}" for v in p],
        "threshold": [f"{v:.3f}" for v in predictions["threshold"]],
        "call": np.where(called, "melanoma", "naevus"),
    })
    parts = [
        f"<h1>{_e(title)}</h1>",
        f'<p>Image <b>{_e(image_id)}</b>. <span class="note">Generated '
        f"{_e(dt.datetime.now(dt.UTC).isoformat(timespec='seconds'))} by dermviz.</span></p>",
        _figure(image, str(image_id)),
        *(_figure(ov, name) for name, ov in (overlays or {}).items()),
        "<h2>The suite's vote</h2>",
        f'<p class="vote">{_e(vote)}: {int(called.sum())} of {len(called)} members call '
        f"melanoma</p><p>Mean p(melanoma) {p.mean():.3f}{_e(sd)}.</p>",
        *(f'<p class="warning">Warning: {_e(w)}</p>' for w in warnings),
        "<h2>Members</h2>", _table(members),
    ]
    if metadata:
        parts += ["<h2>Metadata</h2>",
                  _table(pd.DataFrame({"field": list(metadata), "value": list(metadata.values())}))]
    if similar is not None and len(similar):
        shown = similar.assign(similarity=[f"{v:.3f}" for v in similar["similarity"]])
        parts += ["<h2>Similar training cases</h2>", _table(shown)]
        parts += [_figure(similar_images[i], i) for i in shown["image_id"].astype(str)
                  if similar_images and i in similar_images]
    parts.append('<p class="note">Research software: not a diagnostic device. Each member '
                 "calls melanoma when p(melanoma) reaches its own validation-chosen threshold; "
                 "a tie between members counts as melanoma.</p>")
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
            + "\n".join(parts) + "</body></html>")
