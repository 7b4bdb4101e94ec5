"""Acting on lab hosts over SSH: the Fabric runner, the small protocol the tiers use, and a
recording fake for unit tests."""
