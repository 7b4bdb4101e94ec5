"""Read-only observations of a running lab, in one place: which masters each LB host reaches,
who holds the VIP, etcd's members and their health (over SSH from a master, or over HTTP from
this host), and who holds the kube leases.

`halab status`, the membership commands, the scenarios and the tiers' waits all ask through
here; nothing here changes the lab (the etcd client's writes are the demo's numbered keys).
Below the tiers, the commands and the checks: it imports none of them.
"""
