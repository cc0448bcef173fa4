"""Streamlit-side helpers shared by the pages (state, widgets). The engine lives in dptab_core."""
