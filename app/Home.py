"""dermviz dashboard: ``streamlit run app/Home.py``.

Pages are thin: they call :mod:`dermviz` (through :mod:`app.state`'s cached
wrappers) and only lay things out.
"""

import sys
from pathlib import Path

import streamlit as st

APP_DIR = Path(__file__).resolve().parent
if str(APP_DIR.parent) not in sys.path:  # `streamlit run app/Home.py` from anywhere
    sys.path.insert(0, str(APP_DIR.parent))

st.set_page_config(page_title="dermviz", page_icon="🔬", layout="wide")

pages = {
    "Overview": [
        st.Page(APP_DIR / "pages" / "home.py", title="Home", icon=":material/home:", default=True),
    ],
    "Clinicians": [
        st.Page(APP_DIR / "pages" / "saliency.py", title="Saliency", icon=":material/stethoscope:"),
    ],
    "Researchers": [
        st.Page(APP_DIR / "pages" / "randomization.py", title="Layer randomization",
                icon=":material/shuffle:"),
        st.Page(APP_DIR / "pages" / "variation.py", title="Reproducibility & variation",
                icon=":material/difference:"),
        st.Page(APP_DIR / "pages" / "search.py", title="Search", icon=":material/tune:"),
    ],
}
st.navigation(pages).run()
