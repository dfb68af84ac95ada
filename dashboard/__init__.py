"""The Streamlit app: entry point and shared UI helpers."""
