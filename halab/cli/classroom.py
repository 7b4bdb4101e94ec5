"""`halab kubeconfig` and `halab class serve`: kubectl on this host, and the teacher's live page
of every lab. Parsing only; `halab.lab.kubeconfig` and `halab.lab.classview` act."""

from __future__ import annotations

from halab.cli.options import Subparsers, command
from halab.lab import classview, kubeconfig

KUBECONFIG_HELP = """\
Write .halab/<lab>/admin.kubeconfig (mode 0600) from the lab's PKI: the admin client \
certificate, the lab's Kubernetes CA, and the server kubectl should reach, which is the LBs' VIP \
or the LB when it forwards the apiservers, else the first master. Its cluster, user and context \
are all named halab-<lab>. kubectl of the lab's own version (from the binaries cache) is linked \
as .halab/bin/kubectl.

--merge also adds that cluster, user and context to your kubeconfig (the first file of \
$KUBECONFIG, else ~/.kube/config), as kind does: other entries are left as they are, and the \
current context is set only when there is none. `halab down` removes them again.

examples:
  halab kubeconfig seed --merge
  .halab/bin/kubectl --context halab-seed get nodes
  KUBECONFIG=.halab/seed/admin.kubeconfig kubectl get pods -A"""

SERVE_HELP = """\
A web page of every lab on this host, live: each lab's hosts and their state, the etcd leader \
and raft term, which masters each LB reaches, the last `halab verify` result, and the exercise \
in progress with its check results and time (from .halab/<lab>/exercise.json), plus a \
scoreboard. Each lab has its own page with its live diagram (as `halab diagram --live`) and the \
figures of its last `halab verify --scenario` run. The page updates itself (server-sent events).

It listens on 127.0.0.1 by default: to show it to a class, use --host 0.0.0.0 on a trusted \
network. It is read-only unless --allow-actions: then it can reset a lab's exercise and start \
an exercise on every lab, each action needing the token printed at start.

examples:
  halab class serve                         http://127.0.0.1:8080/
  halab class serve --port 9000 --allow-actions"""


def add_classroom_commands(sub: Subparsers) -> None:
    p = command(sub, "kubeconfig", lambda a: kubeconfig.kubeconfig(a.lab, a.merge),
                "kubectl on this host for a lab (writes its admin kubeconfig)", KUBECONFIG_HELP)
    p.add_argument("lab", nargs="?", help="lab name or topology file (the only lab up)")
    p.add_argument("--merge", action="store_true",
                   help="add the context halab-<lab> to your kubeconfig ($KUBECONFIG or "
                        "~/.kube/config)")

    group = sub.add_parser("class", help="the teacher's live page of every lab (class serve)",
                           description="The class page: `halab class serve --help`.")
    inner = group.add_subparsers(dest="class_command", metavar="COMMAND", required=True)
    p = command(inner, "serve", lambda a: classview.serve(a.host, a.port, a.allow_actions,
                                                         a.interval),
                "serve the live class page", SERVE_HELP)
    p.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--allow-actions", action="store_true",
                   help="let the page reset labs and start exercises, with a printed token")
    p.add_argument("--interval", type=float, default=2.0, metavar="S",
                   help="ask every lab every S seconds (default 2)")
