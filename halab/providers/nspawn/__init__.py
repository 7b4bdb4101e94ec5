"""System containers with systemd-nspawn: each lab host boots its own systemd on the host's
kernel."""
