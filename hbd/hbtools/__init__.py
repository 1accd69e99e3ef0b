"""Heartbeat 3.0.6's command-line tools, as thin shims over hbd's control socket.

| tool | module | heartbeat installed it as |
|---|---|---|
| `cl_status` | `cl_status` | `/usr/bin/cl_status` |
| `hb_standby` | `standby` | `/usr/share/heartbeat/hb_standby` (Debian), `/usr/lib/heartbeat/hb_standby` |
| `hb_takeover` | `standby` | `/usr/share/heartbeat/hb_takeover` (Debian), `/usr/lib/heartbeat/hb_takeover` |

Arguments, output and exit codes are heartbeat's (checked against Debian's
real tools in tests/cli/test_hbtools.py and tests/netns/test_hbtools.py);
`docs/hbctl.md` says how to link them where scripts expect them and what
differs. `session` is their shared connection to hbd, `getopt` glibc's
reading of short options.
"""
