"""hbd's lines in heartbeat's words (hbd/hblog.py): what CTS and log monitors grep."""

import logging
import re

from hbd.core.actions import Notice, NoticeKind
from hbd.core.status import ClusterStatus, GroupState, GroupView, NodeStatus
from hbd.hblog import Vocabulary

# CM_hb.py's patterns, as syslog would show hbd's line on node1 ("<host> <ident>: <line>")
THEY_DEAD = r"node1 heartbeat.*node (node0).*: is dead"
WE_STARTED = r" (node1) .* Initial resource acquisition complete"
WE_STOPPED = r"node1 heartbeat.*Heartbeat shutdown complete"


def _syslog(lines):
    return [f"Dec  5 23:00:00 node1 heartbeat[7]: {line.render()}" for line in lines]


def _status(state=GroupState.STOPPED, desired="node0", comm_up=True):
    group = GroupView("node0", "node0", state, holder=desired, desired=desired)
    return ClusterStatus("node1", NodeStatus.ACTIVE, 1, comm_up, False, "none", "none", (),
                         (group,))


def test_peer_dead_matches_cts_they_stopped():
    voc = Vocabulary("node1")
    lines = voc.notice(Notice(NoticeKind.NODE, "node0", "node node0: is dead (deadtime)",
                              (("old", "active"), ("status", "dead"), ("reason", "deadtime"))))
    assert [line.level for line in lines] == [logging.WARNING]
    assert re.search(THEY_DEAD, _syslog(lines)[0])


def test_own_status_changes_say_nothing():
    voc = Vocabulary("node1")
    assert voc.notice(Notice(NoticeKind.NODE, "node1", "node node1: shut down",
                             (("status", "dead"),))) == []


def test_initial_acquisition_complete_once_settled():
    voc = Vocabulary("node1")
    assert voc.settled(_status(comm_up=False)) == []
    assert voc.settled(_status(GroupState.STARTING, desired="node1")) == []
    lines = voc.settled(_status())
    assert re.search(WE_STARTED, _syslog(lines)[0])
    assert voc.settled(_status()) == [] and not voc.wants_status()


def test_standby_acquisition_done_after_the_groups_start():
    voc = Vocabulary("node1")
    voc.settled(_status())
    assert voc.notice(Notice(NoticeKind.INFO, "node0",
                             "node0 released its foreign resources (standby)")) == []
    assert voc.settled(_status(GroupState.STARTING, desired="node1")) == []
    lines = voc.settled(_status(GroupState.STARTED, desired="node1"))
    assert [line.render() for line in lines] == [
        "info: Standby resource acquisition done [foreign]."]


def test_shutdown_partition_link_and_standby_words():
    voc = Vocabulary("node1")
    assert re.search(WE_STOPPED, _syslog(voc.shutdown_complete())[0])
    said = [voc.notice(n)[0].render() for n in (
        Notice(NoticeKind.WARNING, "node2", "Cluster node node2 returning after partition"),
        Notice(NoticeKind.LINK, "node2", "Link node2:eth2 dead", (("status", "dead"),)),
        Notice(NoticeKind.WARNING, "node1", "No reply to standby request. Standby request "
               "cancelled."))]
    assert said == ["WARN: Cluster node node2 returning after partition.",
                    "info: Link node2:eth2 dead.",
                    "WARN: No reply to standby request.  Standby request cancelled."]
    assert not any(re.search(r"ERROR:|CRIT.*:", line) for line in said)


def test_standby_asked_here_done_once_the_peer_holds_the_groups():
    voc = Vocabulary("node1")
    voc.settled(_status())
    voc.notice(Notice(NoticeKind.INFO, "node1", "standby all requested: standby=all claims=none"))
    assert voc.wants_status()
    assert voc.settled(_status(GroupState.STOPPED, desired=None)) == []
    lines = voc.settled(_status(GroupState.STOPPED, desired="node0"))
    assert [line.render() for line in lines] == ["info: Standby resource acquisition done [all]."]
    assert not voc.wants_status()
