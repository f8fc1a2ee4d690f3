"""Browser tests (real JupyterLab + headless chromium); see conftest.py."""
