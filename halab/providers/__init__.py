"""The only code that touches subprocess, libvirt or the hypervisor on the host."""
