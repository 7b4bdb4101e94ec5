"""Where files live on the VMs. Templates, the PKI upload and the checks all use these paths."""

HALAB_ETC = "/etc/halab"

# etcd (Debian's etcd-server package; our unit replaces the package's).
ETCD_ENV = "/etc/default/etcd"
ETCD_UNIT = "/etc/systemd/system/etcd.service"
ETCD_DATA_DIR = "/var/lib/etcd/halab"
ETCD_PKI = "/etc/etcd/pki"
# etcd's ExecStop: hands the leadership to another member before the stop signal.
ETCD_HANDOVER = "/usr/local/lib/halab/etcd-handover"
# A client identity for etcdctl, the LB's health checks and flanneld.
CLIENT_PKI = "/etc/halab/pki"
ETCDCTL_PROFILE = "/etc/profile.d/halab-etcdctl.sh"

# Kubernetes.
KUBE_BIN = "/usr/local/bin"
KUBE_PKI = "/var/lib/kubernetes/pki"
# The node components' bearer tokens (lb.mode per-node with Pound): kube-apiserver's
# --token-auth-file.
KUBE_TOKEN_FILE = f"{KUBE_PKI}/tokens.csv"
KUBE_CONFIG_DIR = "/etc/kubernetes"
KUBELET_DIR = "/var/lib/kubelet"
# The kubelet's identity: its tier writes them, the checks call the API as the kubelet with them.
KUBELET_KUBECONFIG = f"{KUBELET_DIR}/kubeconfig"
KUBELET_PKI = f"{KUBELET_DIR}/pki"
KUBE_PROXY_DIR = "/var/lib/kube-proxy"
FLANNEL_ETCD_PREFIX = "/coreos.com/network"
FLANNEL_NETWORK_JSON = "/etc/halab/flannel-network.json"
CNI_CONF_DIR = "/etc/cni/net.d"
CNI_BIN_DIR = "/usr/lib/cni"
NODE_MODULES = "/etc/modules-load.d/halab-kubernetes.conf"
NODE_SYSCTL = "/etc/sysctl.d/90-halab-kubernetes.conf"

# Load balancers.
NGINX_CONF = "/etc/nginx/nginx.conf"
POUND_CONF = "/etc/pound.cfg"  # where Debian trixie's pound.service reads it
POUND_PKI = "/etc/pound/pki"
HAPROXY_CONF = "/etc/haproxy/haproxy.cfg"
KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"
# The NIC on the lab's private network (eth0 is Vagrant's management NIC): flannel and
# keepalived use it.
PRIVATE_NIC = "eth1"
CONTAINER_NIC = "host0"  # a system container's only NIC (halab's Incus profile names it)
