"""Builds run on this machine (subprocess): the box (debootstrap, a disk image), the
Kubernetes binaries (Go modules or release downloads) and the lab's container images."""
