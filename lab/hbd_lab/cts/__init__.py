"""Heartbeat's own Cluster Test Suite (CTS) run against hbd or heartbeat in the lab.

Debian's heartbeat ships CTS in /usr/share/heartbeat/cts, half ported to
Python 3. It runs here unmodified (heartbeat is GPL: nothing of it is copied
into this repository) on top of:

| piece | module | replaces |
|---|---|---|
| Python 2 shims | `compat/` (UserDict, popen2, sitecustomize) first on CTS's PYTHONPATH | Python 2's library |
| the driver | `driver.py`, run by CTS's Python | CTSlab.py's `__main__` |
| remote execution | `bin/hbd-cts-rsh` (`nsenter` into the node, shims on PATH) | ssh / scp |
| the node's commands | `node.py` (`bin/hbd-cts-node`), `bin/killall`, `bin/logger` | heartbeat -k/-s, hb_standby |
| resource status | `probes/lab-probe` (the node's VIP, MAC, host name) | resource.d scripts' `status` |
| the cluster log | `collector.py` | syslog forwarding to the test host |
| the run | `run.py` (`hbd lab cts`) | the operator |
"""
