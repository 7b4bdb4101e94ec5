"""VMs through Vagrant and vagrant-libvirt (booting, halting) and libvirt-python (states,
teardown). libvirt is imported by `domains` only, when a connection is first needed."""
