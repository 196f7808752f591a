"""Dashboard: the operators' Streamlit app."""
