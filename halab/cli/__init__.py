"""Argument parsing only, one module per command group; `app.main` is the `halab` command."""
