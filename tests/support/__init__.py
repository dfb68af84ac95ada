"""Helpers for the tests, not tests themselves: small counties written as real feed files (county.py,
bulletin_county.py), a throwaway PostgreSQL (pg.py), the shared channel county (channels.py), a real Streamlit
server and Chromium (server.py), users and logins (logins.py)."""
