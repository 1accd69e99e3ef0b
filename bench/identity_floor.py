"""Identity floor: from the first identity operation until a client sees the whole identity.

    sudo .venv/bin/python bench/identity_floor.py [--reps 20] [--probe-reps 50]

Lab (network namespaces `hbdflr-*` on one bridge, removed at the end even on
failure): n1 (192.168.32.31, MAC 00:1e:68:1e:19:5e, default route via .254)
takes the scenario's vip1 identity (IPaddr 192.168.32.21/24, MacAddr
00:1E:68:1E:99:5E, Hostname nodevir, DefaultRoute 192.168.32.253); n0 (.30)
is the other holder for the probe; a client (.40) sends a UDP probe to the VIP
every millisecond, and n1 runs `hbd_lab.probe serve`, which answers with the
hostname and eth0's MAC of the moment.

An `Identity` runs in n1 as the daemon holds it (journal in a state dir,
`recover()` and `open()` at start-up, then waiting). Each rep, with nobody
holding vip1 and the client's neighbour entry for it flushed (the client
keeps asking), the identity is taken, alternately:

* `one move`: `Identity.start_block` with the four resources in haresources
  order (what the core's block step does);
* `one at a time`: four `Identity.start` calls in haresources order (IP first:
  the way hbd took a group before the block step).

floor = the client's receive time of the first answer carrying the virtual MAC
*and* `nodevir`, minus the time just before the first operation (both
CLOCK_MONOTONIC); `op` = the time the operations took; `wrong answers` = the
answers from the VIP with another MAC or hostname (a client must never get one;
the client logs an answer each time the MAC or hostname it carries changes, so
this counts distinct wrong identities per rep, summed over the reps); then
the identity is released (`stop_block` / four `stop`s, reverse order) and that
time is `release`.

Last, the RFC 5227 ARP probe from n1 (`hbd.resources.arp_probe.probe`, default
5 ms wait): for vip1 configured on n0 (answered: the time until n0's kernel
answered) and for an address nobody has (unanswered: the whole wait).
Figures are medians and maxima; the record goes in bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hbd_lab.cluster import wait_for  # noqa: E402
from hbd_lab.netns import Topology, sweep  # noqa: E402

PREFIX = "hbdflr"
VIP, VMAC, VHOST = "192.168.32.21", "00:1e:68:1e:99:5e", "nodevir"
GROUP = ["IPaddr::192.168.32.21/24/eth0/192.168.32.255", "MacAddr::eth0::00:1E:68:1E:99:5E",
         "Hostname::nodevir", "DefaultRoute::192.168.32.253"]
PORT = 7777


# --- inside n1: the identity, driven by one JSON command per line ------------------------

async def runner(state_dir: str) -> None:
    from hbd.config.haresources import parse_resource
    from hbd.resources.arp_probe import probe
    from hbd.resources.identity import Identity

    resources = [parse_resource(spec)[0] for spec in GROUP]
    identity = Identity(state_dir, garp_count=3, garp_interval=0.05)
    await identity.recover()
    await identity.open()
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": True}), flush=True)
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        cmd = json.loads(line)
        if cmd["cmd"] == "probe":
            t0 = time.monotonic()
            result = await probe(cmd["ip"], "eth0")
            print(json.dumps({"t": time.monotonic() - t0, "answered": result.answered,
                              "mac": result.mac, "error": result.error}), flush=True)
            continue
        block, take = cmd["how"] == "block", cmd["cmd"] == "move"
        t0 = time.monotonic()
        if block:
            method = identity.start_block if take else identity.stop_block
            results = [await method(resources, group="vip1")]
        else:
            method = identity.start if take else identity.stop
            results = [await method(r, group="vip1") for r in (resources if take
                                                               else resources[::-1])]
        t1 = time.monotonic()
        print(json.dumps({"t0": t0, "t1": t1, "ok": all(r.ok for r in results),
                          "detail": "; ".join(r.detail for r in results)}), flush=True)
    await identity.close()


# --- inside the client: probe the VIP every millisecond, log every new answer -----------

def client(out_path: str, interval: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    last: tuple[str, str] | None = None
    last_t = 0.0
    seq = 0
    with open(out_path, "a", encoding="utf-8") as out:
        next_at = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= next_at:
                seq += 1
                try:
                    sock.sendto(json.dumps({"seq": seq, "target": VIP}).encode(), (VIP, PORT))
                except OSError:
                    pass
                next_at = max(next_at + interval, now)
            if select.select([sock], [], [], max(0.0, next_at - time.monotonic()))[0]:
                try:
                    reply = json.loads(sock.recv(1024))
                except (OSError, ValueError):
                    continue
                t = time.monotonic()
                seen = (reply.get("mac", ""), reply.get("host", ""))
                if seen != last or t - last_t > 0.02:    # a new answer, or after a gap
                    out.write(json.dumps({"t": t, "mac": seen[0], "host": seen[1]}) + "\n")
                    out.flush()
                last, last_t = seen, t


# --- the orchestrator (root, host namespaces) --------------------------------------------

class Lab:
    def __init__(self, work: Path) -> None:
        sweep(PREFIX)
        self.topo = Topology(PREFIX)
        self.work = work
        self.procs: list[subprocess.Popen] = []
        switch = self.topo.add_switch("svc")
        for name, host, mac in (("n0", 30, "00:18:8b:8e:04:e2"), ("n1", 31, "00:1e:68:1e:19:5e"),
                                ("client", 40, None)):
            self.topo.add_node(name)
            self.topo.cable(name, "eth0", switch, address=f"192.168.32.{host}/24", mac=mac)
        self.n1, self.n0, self.client = (self.topo.nodes[n] for n in ("n1", "n0", "client"))
        self.n1.ip("route", "add", "default", "via", "192.168.32.254")
        self.client_log = work / "client.jsonl"
        py = [sys.executable]
        self.procs.append(self.n1.popen(py + ["-m", "hbd_lab.probe", "serve", "--node", "n1"],
                                        cwd=ROOT))
        self.procs.append(self.client.popen(py + [__file__, "client", str(self.client_log)],
                                            cwd=ROOT))
        self.runner = self.n1.popen(py + [__file__, "runner", str(work / "state")], cwd=ROOT,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.procs.append(self.runner)
        assert self.ask(None) == {"ready": True}

    def ask(self, cmd: dict | None) -> dict:
        if cmd is not None:
            self.runner.stdin.write(json.dumps(cmd) + "\n")
            self.runner.stdin.flush()
        ready, _, _ = select.select([self.runner.stdout], [], [], 20)
        line = self.runner.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"the identity runner did not answer {cmd}")
        return json.loads(line)

    def answers(self) -> list[dict]:
        try:
            text = self.client_log.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(5)
        self.topo.destroy()


def one_rep(lab: Lab, how: str) -> dict:
    lab.client.ip("neigh", "flush", "to", VIP, "dev", "eth0", check=False)
    time.sleep(0.05)       # the client's next probes ask for vip1 again: nobody answers
    moved = lab.ask({"cmd": "move", "how": how})
    if not moved["ok"]:
        raise RuntimeError(f"{how}: {moved['detail']}")
    t0 = moved["t0"]

    def whole() -> dict | None:
        return next((a for a in lab.answers() if a["t"] >= t0 and (a["mac"], a["host"])
                     == (VMAC, VHOST)), None)
    first = wait_for(whole, timeout=5, what="the client to see the whole identity",
                     interval=0.01)
    released = lab.ask({"cmd": "release", "how": how})
    if not released["ok"]:
        raise RuntimeError(f"release {how}: {released['detail']}")
    wrong = [a for a in lab.answers() if t0 <= a["t"] < released["t0"]
             and (a["mac"], a["host"]) != (VMAC, VHOST)]
    time.sleep(0.05)
    return {"floor": first["t"] - t0, "op": moved["t1"] - t0,
            "release": released["t1"] - released["t0"], "wrong": len(wrong)}


def probe_reps(lab: Lab, reps: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"answered": [], "unanswered": []}
    lab.n0.ip("addr", "add", f"{VIP}/24", "dev", "eth0")
    for _ in range(reps):
        got = lab.ask({"cmd": "probe", "ip": VIP})
        if not got["answered"] or got["mac"] != "00:18:8b:8e:04:e2":
            raise RuntimeError(f"probe of vip1 on n0: {got}")
        found["answered"].append(got["t"])
    lab.n0.ip("addr", "del", f"{VIP}/24", "dev", "eth0")
    for _ in range(reps):
        got = lab.ask({"cmd": "probe", "ip": "192.168.32.99"})
        if got["answered"] or got["error"]:
            raise RuntimeError(f"probe of an unused address: {got}")
        found["unanswered"].append(got["t"])
    return found


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.1f} {max(values) * 1000:7.1f}"


def report(reps: dict[str, list[dict]], probes: dict[str, list[float]]) -> None:
    print(f"\n## identity floor ({len(reps['block'])} reps each; ms, median / max)")
    print(f"{'how':<16} {'floor':>15} {'op':>15} {'release':>15} {'wrong answers':>14}")
    for how, label in (("block", "one move"), ("single", "one at a time")):
        rows = reps[how]
        print(f"{label:<16} {ms([r['floor'] for r in rows])} {ms([r['op'] for r in rows])} "
              f"{ms([r['release'] for r in rows])} {sum(r['wrong'] for r in rows):>14}")
    print(f"\n## ARP probe, default wait 5 ms ({len(probes['answered'])} probes each; ms)")
    print(f"{'case':<16} {'median':>7} {'max':>7}")
    for case, values in probes.items():
        print(f"{case:<16} {ms(values)}")


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode")
    r = sub.add_parser("runner")
    r.add_argument("state_dir")
    c = sub.add_parser("client")
    c.add_argument("out")
    c.add_argument("--interval", type=float, default=0.001)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--probe-reps", type=int, default=50)
    args = parser.parse_args()
    if args.mode == "runner":
        asyncio.run(runner(args.state_dir))
        return 0
    if args.mode == "client":
        client(args.out, args.interval)
        return 0
    work = Path(f"/run/hbd-lab/work/{PREFIX}")
    subprocess.run(["rm", "-rf", str(work)], check=False)
    work.mkdir(parents=True)
    lab = Lab(work)
    try:
        wait_for(lambda: os.path.exists(lab.client_log), timeout=10, what="the client to run")
        reps: dict[str, list[dict]] = {"block": [], "single": []}
        for n in range(args.reps * 2):
            how = ("block", "single")[n % 2]
            reps[how].append(one_rep(lab, how))
        probes = probe_reps(lab, args.probe_reps)
    finally:
        lab.close()
        subprocess.run(["rm", "-rf", str(work)], check=False)
    report(reps, probes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
