"""Pinned versions of what halab installs that does not come from the box's Debian packages."""

# One supported Kubernetes release for the kube tier (binaries are built or fetched per version).
KUBERNETES_VERSION = "1.34.4"
