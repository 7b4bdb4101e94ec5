# Rendered by halab: `sudo -i` then `etcdctl member list` talks to the lab's etcd.
export ETCDCTL_API=3
export ETCDCTL_ENDPOINTS="https://192.168.33.11:2379"
export ETCDCTL_CACERT="/etc/halab/pki/etcd-ca.crt"
export ETCDCTL_CERT="/etc/halab/pki/etcd-client.crt"
export ETCDCTL_KEY="/etc/halab/pki/etcd-client.key"
