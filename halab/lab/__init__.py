"""The lab's commands (up, status, power, membership, drills, scenarios, down, doctor) and the
context they share (`context.Lab`). Only `halab.cli` imports the commands."""
