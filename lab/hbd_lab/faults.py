"""The failures the drills inject into a lab node, and the recoveries (see scenario.py).

A cable is pulled at the switch (the switch-side veth down), so the node's own
interface loses carrier as a real NIC would. A machine-wide action (power
off, crash, reboot) acts on every process in the node's network namespace
through `procs`; a daemon-only one (stop, hang) goes through the `System`.
"""

from __future__ import annotations

from hbd_lab import procs
from hbd_lab.cluster import HOSTS, SERVICE_NET, Lab, node_mac, wait_for
from hbd_lab.scenario import System
from hbd_lab.services import Services

CABLES = ("eth0", "eth2")
PULLED = {"unplug": ("eth0",), "isolate": CABLES, "poweroff": CABLES, "crash": CABLES,
          "hblan": ("eth2",)}


class Faults:
    def __init__(self, lab: Lab, system: System, services: Services) -> None:
        self.lab = lab
        self.system = system
        self.services = services

    # --- pieces ------------------------------------------------------------------------
    def cables(self, node: str, ifnames: tuple[str, ...], up: bool) -> None:
        for ifname in ifnames:
            self.lab.topology.set_port(node, ifname, up)

    def machine_pids(self, node: str) -> list[int]:
        return self.lab[node].ns.pids()

    def power_off(self, node: str) -> None:
        """Every process of the node killed at once, its cables pulled."""
        procs.kill(lambda: self.machine_pids(node))
        wait_for(lambda: not self.machine_pids(node), timeout=10,
                 what=f"every process of {node} to die")
        self.cables(node, CABLES, False)

    def powered_off(self, node: str) -> bool:
        """True when nothing runs on the node (a drill or a fence powered it off)."""
        return not self.machine_pids(node)

    def boot(self, node: str) -> None:
        """A machine coming back: its own identity as its own configuration has it
        (MAC, address, host name, route; nothing of a VIP), cables, service, daemon."""
        ns = self.lab[node].ns
        ns.ip("link", "set", "eth0", "down")
        ns.ip("link", "set", "eth0", "address", node_mac(node, 0))
        ns.ip("addr", "flush", "dev", "eth0")
        ns.ip("addr", "add", f"{SERVICE_NET}.{HOSTS[node]}/24", "brd", "+", "dev", "eth0")
        ns.ip("link", "set", "eth0", "up")
        ns.ip("route", "replace", "default", "via", f"{SERVICE_NET}.254")
        ns.run(["hostname", node])
        self.cables(node, CABLES, True)
        self.services.serve(node)
        self.system.start(node)

    # --- the drills ----------------------------------------------------------------------
    def inject(self, drill: str, node: str) -> None:
        if drill == "stop":
            self.system.stop(node)
        elif drill in ("unplug", "isolate", "hblan"):
            self.cables(node, PULLED[drill], False)
        elif drill == "poweroff":
            self.power_off(node)
        elif drill == "crash":
            # the cables first: from this instant nothing of the node answers
            self.cables(node, CABLES, False)
            if not procs.freeze(lambda: self.machine_pids(node)):
                raise TimeoutError(f"the processes of {node} could not all be frozen")
        elif drill == "hang":
            self.system.freeze(node)
        else:
            raise ValueError(f"unknown drill {drill}")

    def recover(self, drill: str, node: str) -> None:
        if drill == "stop":
            self.system.start(node)
        elif self.powered_off(node):          # powered off by the drill, or fenced meanwhile
            self.boot(node)
        elif drill in ("unplug", "isolate", "hblan"):
            self.cables(node, PULLED[drill], True)
        elif drill == "crash":                # a reboot: what ran is gone
            self.power_off(node)
            self.boot(node)
        elif drill == "hang":
            self.system.thaw(node)
        else:
            raise ValueError(f"unknown drill {drill}")
