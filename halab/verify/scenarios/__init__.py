"""The scenarios of `halab verify --scenario`: each is `run(actions, plan, hard)`, acting on its
lab only through `actions.LabActions`, and a pure `judge(record)` of what the run recorded."""
