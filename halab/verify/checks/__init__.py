"""pytest-testinfra checks run by `halab verify`, one module per role (check_<role>.py)."""
