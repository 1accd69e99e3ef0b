"""Heartbeat 3.0.6's command-line tools, as thin shims over hbd's control socket.

| tool | module | heartbeat installed it as |
|---|---|---|
| `cl_status` | `cl_status` | `/usr/bin/cl_status` |
| `hb_standby` | `standby` | `/usr/share/heartbeat/hb_standby` (Debian; upstream /usr/lib/...) |
| `hb_takeover` | `standby` | `/usr/share/heartbeat/hb_takeover` (Debian; upstream /usr/lib/...) |

Arguments, output and exit codes are heartbeat's (checked against Debian's
real tools in tests/cli/test_hbtools.py and tests/netns/test_hbtools.py);
`docs/hbctl.md` says how to link them where scripts expect them and what
differs. `session` is their shared connection to hbd, `getopt` glibc's
reading of short options.
"""
