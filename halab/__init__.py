"""halab: bare-metal-style HA Kubernetes labs on Vagrant + libvirt, from one topology file."""

__version__ = "0.1.0"
