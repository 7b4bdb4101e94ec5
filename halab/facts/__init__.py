"""Pure: the command lines halab sends to lab hosts (etcdctl, kubectl, iptables and tc,
etcdutl) and the parsers of what they print; the check workloads as data."""
