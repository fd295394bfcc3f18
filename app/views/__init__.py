"""The dashboard's pages, run by Streamlit from ``app/Home.py``'s navigation (a package only
so the import contracts of pyproject.toml see them; nothing imports them)."""
