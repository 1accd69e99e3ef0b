"""Two Runtimes with hbd's AEAD method (chacha20poly1305): the whole send/receive path.

`Runtime.apply_config` gives the runtime a sending session; `_send` seals with
it (the core never sees the difference); the receiving runtime decodes the
sealed datagrams. Each node's datagrams are on the wire encrypted, with
increasing counters in one session, and a reload with the same keys keeps
the session (a counter never restarts within a session).
"""

from __future__ import annotations

from hbd.config.model import AuthMethod as AuthMethod
from hbd.config.model import AuthKey, AuthKeys
from hbd.core.events import Started
from hbd.wire import Accepted, decode, seal
from tests.shell.test_runtime import make_pair, statuses
from tests.waiting import until

AEAD = AuthKeys(1, (AuthKey(1, AuthMethod.CHACHA20POLY1305, b"all-hbd-cluster"),))  # type: ignore[arg-type]


async def test_sealed_cluster_joins_and_its_datagrams_are_encrypted():
    runtimes, _, _ = make_pair({"alpha": AEAD, "beta": AEAD})
    seen: list[bytes] = []
    send = runtimes["alpha"].send_bytes
    runtimes["alpha"].send_bytes = lambda data: (seen.append(data), send(data))
    for runtime in runtimes.values():
        runtime.feed(Started())
    await until(lambda: statuses(runtimes["beta"]).get("alpha") == "active"
                and statuses(runtimes["alpha"]).get("beta") == "active", timeout=10)
    assert runtimes["beta"].counters.get("packets_sealed", 0) > 0
    assert seen and all(d.startswith(seal.MAGIC) and b"alpha" not in d for d in seen)
    opened = [decode(d, AEAD) for d in seen]
    assert all(isinstance(r, Accepted) for r in opened)
    sessions = {r.session for r in opened if isinstance(r, Accepted)}
    counters = [r.counter for r in opened if isinstance(r, Accepted)]
    assert len(sessions) == 1 and counters == list(range(1, len(seen) + 1))
    keys = runtimes["alpha"].authkeys
    runtimes["alpha"].apply_config(runtimes["alpha"].config)     # a reload, same keys
    assert runtimes["alpha"].authkeys is keys
    for runtime in runtimes.values():
        runtime.close()
