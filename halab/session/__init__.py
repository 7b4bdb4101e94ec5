"""A lab as one command sees it: its directory and state, its lock, and the `Lab` that
`Lab.open` makes once per command (the file read once, the provider and acceleration decided
once in `choice`, one plan, its provider and runner). Below the commands (`halab.lab`), so the
checks and scenarios (`halab.verify`) can use it without importing a command."""
