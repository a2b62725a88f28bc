"""The Streamlit dashboard, shipped inside the package so ``heart-geo dashboard`` runs from a wheel.

``dashboard.py`` is a Streamlit script (run it, do not import it): ``heart-geo dashboard`` or
``streamlit run "$(python -c 'import heart_geo.app as a; print(a.DASHBOARD)')"``.
"""

from pathlib import Path

#: Path of the Streamlit script.
DASHBOARD = Path(__file__).resolve().parent / "dashboard.py"
