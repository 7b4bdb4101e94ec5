"""Incus system containers: a lab host per instance, one project per lab (see provider.py)."""
