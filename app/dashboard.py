"""Kept so ``streamlit run app/dashboard.py`` works from a source checkout.

The dashboard lives in the package (``heart_geo/app/dashboard.py``) so that it ships in the wheel;
this runs it afresh on every Streamlit rerun.
"""

import runpy

runpy.run_module("heart_geo.app.dashboard", run_name="__main__")
