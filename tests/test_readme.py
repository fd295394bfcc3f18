"""The README's two set-up commands are what the project actually runs."""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def block(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\s*```bash\n(.+?)\n```\s*<!-- /{marker} -->", README,
                      re.S)
    assert match, f"README lacks the {marker} block"
    return match.group(1).strip()


def test_two_setup_commands():
    dashboard = block("dashboard-command")
    tests = block("test-command")
    # The dashboard starts at once: the demo is built from Home, in the background.
    assert "dermviz demo" not in dashboard and dashboard.endswith("streamlit run app/Home.py")
    assert "pytest" in tests
    # The dashboard needs only the base install; the tests install every extra.
    assert "pip install -r requirements.txt " in dashboard and "extra" not in dashboard
    assert "pip install -r requirements-extra.txt " in tests
    assert "-r requirements.txt" in (REPO_ROOT / "requirements-extra.txt").read_text()
    assert (REPO_ROOT / "app" / "Home.py").is_file()


def test_readme_says_how_to_get_cpu_torch():
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in README
    pinned = (REPO_ROOT / "requirements-extra.txt").read_text()
    assert "torch==2.13.0\n" in pinned


def test_ci_runs_the_readme_test_command():
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "test-command" in ci and "README.md" in ci
    assert "apt-get install -y --no-install-recommends chromium" in ci  # for tests/e2e
