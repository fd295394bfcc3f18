"""Helpers of the page tests: where the dashboard lives and what its pages show."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from tests.conftest import REPO_ROOT

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

HOME = str(REPO_ROOT / "app" / "Home.py")
VIEWS = REPO_ROOT / "app" / "views"
#: The first case or upload imports TensorFlow and loads the members.
TIMEOUT = 300


def card_ids(at: AppTest) -> list[str]:
    """Image ids of the browser's cards, from their links to the Case page."""
    queries = [parse_qs(link.proto.query_string) for link in at.get("page_link")]
    return [q["image"][0] for q in queries if "image" in q]
