"""authkeys as heartbeat 3.0.6 reads it: a key line's key is its first word after the method.

A cluster whose authkeys says `7 md5 "our shared secret"` runs heartbeat with
the key `"our` (`sscanf("%d%s%s")`: the rest of the line is ignored, quotes
are ordinary bytes). hbd reads the file the same way (with a warning naming
file:line), so Debian's heartbeat 3.0.6 on node1 and hbd on node0 and node2,
all reading the same file, see each other active. If hbd used the whole
line, or stripped the quotes, heartbeat would refuse every hbd packet
("authtoken does not match") and the views would never agree.
"""

from __future__ import annotations

import pytest

from hbd.config.authkeys import parse_authkeys
from hbd_lab.cluster import render_hacf, scenario_template
from hbd_lab.heartbeat import unavailable
from tests.netns.test_interop import FAST, MEDIA, NAMES, heartbeat_on, start  # noqa: F401

pytestmark = pytest.mark.skipif(unavailable() is not None,
                                reason=f"heartbeat 3.0.6 unavailable: {unavailable()}")

AUTHKEYS = {
    "md5": 'auth 7\n7 md5 "our shared secret"\n',
    "sha1": "# rotated in 2019\nauth 3\n3 sha1 our shared secret # do not share\n",
}
HEARTBEATS_KEY = {"md5": b'"our', "sha1": b"our"}


@pytest.mark.parametrize("method", ["md5", "sha1"])
def test_multi_word_key_interoperates_with_heartbeat(make_lab, heartbeat_on, method):  # noqa: F811
    text = AUTHKEYS[method]
    keys, problems = parse_authkeys(text, "authkeys")
    assert keys is not None and keys.signing_key.secret == HEARTBEATS_KEY[method]
    assert [p.severity.value for p in problems] == ["warning"]
    lab = make_lab(NAMES, extras=("gw",))
    hb = heartbeat_on(lab["node1"])
    hacf = render_hacf(scenario_template("node0")[0], timings=FAST, media=MEDIA["bcast"])
    for name, node in lab.nodes.items():
        if name == hb.node.name:
            hb.install(hacf, "", text)
        else:
            node.install(hacf, "", text)
    start(lab, hb)                       # every node active in every view, or it fails
    for peer in ("node0", "node2"):
        assert hb.cl_status("nodestatus", peer).stdout.strip() == "active"
    assert "authtoken does not match" not in hb.log_text()
    for name in ("node0", "node2"):                 # hbd said how it read the key, with file:line
        log = lab[name].log_text()
        assert "heartbeat uses only" in log and f"{lab[name].config_dir}/authkeys:" in log
