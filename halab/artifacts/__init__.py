"""Pure: what halab builds once and caches (box recipes and records, the Kubernetes
binaries' cache and checks, the container images as data)."""
