"""The scenarios of `halab verify --scenario`: each acts through steps it is given
and judges with a pure `judge()`."""
