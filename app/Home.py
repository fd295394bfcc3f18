"""dermviz dashboard: ``streamlit run app/Home.py``.

Pages are thin: they call :mod:`dermviz.api` (mostly through :mod:`app.state`'s
cached wrappers) and only lay things out; from dermviz they import nothing else but
the overlay renderer (:mod:`dermviz.explain.overlay`). They live in ``app/views/``,
not ``app/pages/``: Streamlit turns a ``pages/`` folder beside the entry script into a
second, automatic navigation whose URLs bypass this script.
"""

import sys
from pathlib import Path

import streamlit as st

APP_DIR = Path(__file__).resolve().parent
if str(APP_DIR.parent) not in sys.path:  # `streamlit run app/Home.py` from anywhere
    sys.path.insert(0, str(APP_DIR.parent))

from app.runtime import keep_keras_session  # noqa: E402 - needs the path above

keep_keras_session()
st.set_page_config(page_title="dermviz", page_icon="🔬", layout="wide")

pages = {
    "Overview": [
        st.Page(APP_DIR / "views" / "home.py", title="Home", icon=":material/home:", default=True),
    ],
    "Clinicians": [
        st.Page(APP_DIR / "views" / "browser.py", title="Lesion browser",
                icon=":material/grid_view:"),
        st.Page(APP_DIR / "views" / "case.py", title="Case", icon=":material/person_search:"),
        st.Page(APP_DIR / "views" / "upload.py", title="New image", icon=":material/upload:"),
        st.Page(APP_DIR / "views" / "statistics.py", title="Statistics",
                icon=":material/monitoring:"),
        st.Page(APP_DIR / "views" / "saliency.py", title="Saliency", icon=":material/stethoscope:"),
    ],
    "Researchers": [
        st.Page(APP_DIR / "views" / "randomization.py", title="Layer randomization",
                icon=":material/shuffle:"),
        st.Page(APP_DIR / "views" / "variation.py", title="Reproducibility & variation",
                icon=":material/difference:"),
        st.Page(APP_DIR / "views" / "report_card.py", title="Report card",
                icon=":material/grading:"),
        st.Page(APP_DIR / "views" / "search.py", title="Search", icon=":material/tune:"),
        st.Page(APP_DIR / "views" / "compare.py", title="Compare suites", icon=":material/scale:"),
        st.Page(APP_DIR / "views" / "probe.py", title="Shortcut probe",
                icon=":material/ink_pen:"),
    ],
}
st.navigation(pages).run()
