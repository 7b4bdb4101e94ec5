"""Pure: plan → every host's files from `templates/`, the lab's PKI, the files halab wants on
each host with their modes, and reading back an LB config."""
