"""The single-host platform: nginx in front of gunicorn processes (see platform.py)."""
