"""The one place where halab pins the Kubernetes tier's upstream versions.

Change a version here and `halab binaries build` (or `fetch`) makes a new cache directory for it;
nothing else in halab names a version.
"""

from __future__ import annotations

# Kubernetes 1.36, newest patch whose module the Go proxy serves here (v1.37.x's module .zip is
# refused by the proxy on this project's machines, so 1.37 cannot be built here yet).
# Its go.mod says `go 1.26.0`; it builds with Go 1.26.
KUBERNETES_VERSION = "v1.36.3"

# flanneld (github.com/flannel-io/flannel); its go.mod also says `go 1.26.0`.
FLANNEL_VERSION = "v0.28.10"

# The flannel CNI plugin (github.com/flannel-io/cni-plugin) that flannel v0.28.10's own manifest
# (Documentation/kube-flannel.yml) installs. `fetch` downloads this release.
FLANNEL_CNI_PLUGIN_VERSION = "v1.9.1-flannel3"

# `build` takes the CNI plugin from the first of these Go modules that the Go proxy serves:
# (module, version, package path inside the module).
# The Go proxy on this project's machines refuses github.com/flannel-io/cni-plugin, so the second
# entry is the plugin's upstream origin: the `flannel` meta plugin of containernetworking/plugins
# v0.9.1 (the last release that still had it; flannel-io/cni-plugin was forked from it). Both read
# /run/flannel/subnet.env and delegate to the `bridge` + `host-local` plugins, and both accept
# CNI spec 0.3.1 configs.
FLANNEL_CNI_BUILD_SOURCES: tuple[tuple[str, str, str], ...] = (
    (
        "github.com/flannel-io/cni-plugin",
        FLANNEL_CNI_PLUGIN_VERSION,
        "",
    ),
    (
        "github.com/containernetworking/plugins",
        "v0.9.1",
        "plugins/meta/flannel",
    ),
)

# The CNI spec version a halab conflist should declare: accepted by both plugins above and by
# Debian trixie's containernetworking-plugins 1.1.1 (bridge, host-local, portmap, loopback).
CNI_SPEC_VERSION = "0.3.1"
