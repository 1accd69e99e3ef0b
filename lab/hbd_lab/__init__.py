"""hbd's lab: the source scenario in network namespaces, its drills, the benchmark's systems.

A sibling package of hbd (`lab/` in the repository, `pip install -e lab/`), not
part of it. Modules, from the bottom up:

| module | what |
|---|---|
| `netns` | namespaces, switches, cables |
| `procs` | the one process helper: a daemon and its descendants (start, stop, kill, freeze) |
| `cluster`, `session` | the scenario's nodes with hbd on them; one lab across commands |
| `identity`, `data/identity.sh` | the one template of the identity scripts (conf/, heartbeat, keepalived) |
| `heartbeat`, `keepalived`, `systems` | the other HA systems on the same nodes |
| `probe`, `sampler`, `services` | the client's probe, the 10 ms holders sampler, the link monitor |
| `timeline`, `holders` | what they recorded, as figures (pure) |
| `scenario`, `faults`, `expect`, `drills` | the drills: vocabulary, failures, verdicts, runner |
| `report`, `cli`, `fence_plugin` | the HTML report, `hbd-lab`, the lab's STONITH device |
"""
