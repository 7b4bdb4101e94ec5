"""Pure: what a lab is. The topology file (model, load, validation), the plan derived from
it, where files live on the hosts, pinned versions, the preflight's judgement, and the changes
made to a topology (replicas, student copies, the hosts a halt touches)."""
