"""hbd/logs.py: timestamps on every logfile line, one journal entry per line,
the JSON format, and no syslog copy under journald."""

from __future__ import annotations

import enum
import io
import json
import logging
import logging.handlers
import os
import re
import socket
import struct

import pytest

from hbd import logs

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d ")


class Kind(enum.StrEnum):
    GROUP = "group"


@pytest.fixture(autouse=True)
def _reset_logging():
    yield
    logs.configure(stream=io.StringIO(), journal=False)


def _emit_everything():
    log = logs.get("hbd.runtime").bind(node="node0")
    log.info("node node1: is dead (deadtime)", kind="node", subject="node1",
             status="dead", reason="deadtime")
    log.info("group web started", kind=Kind.GROUP, subject="web")
    log.warning("value with\na line break", detail="two\nlines")
    logging.getLogger("hbd.control").warning("a plain %s record", "standard-library")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("an internal error")


def test_every_logfile_line_starts_with_an_iso_timestamp(tmp_path):
    path = tmp_path / "ha-log"
    assert logs.configure(logfile=str(path), stream=io.StringIO(), journal=False) == []
    _emit_everything()
    lines = path.read_text().splitlines()
    assert len(lines) == 5
    for line in lines:
        assert ISO.match(line), line
    assert lines[0].endswith("info: node node1: is dead (deadtime) node='node0' kind='node' "
                             "subject='node1' status='dead' reason='deadtime'")
    assert "group='web'" in lines[1]            # a group's line names the group
    assert "warning: a plain standard-library record" in lines[3]
    assert "ValueError" in lines[4]


def test_stderr_lines_are_stamped_when_not_under_journald():
    stream = io.StringIO()
    logs.configure(stream=stream, journal=False)
    logs.get().info("hello", node="n")
    assert ISO.match(stream.getvalue())


def test_json_format(tmp_path):
    path = tmp_path / "ha-log"
    logs.configure(logfile=str(path), stream=io.StringIO(), logformat="json", journal=False)
    _emit_everything()
    docs = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(docs) == 5
    assert list(docs[0])[:4] == ["ts", "level", "logger", "event"]
    assert docs[0]["reason"] == "deadtime" and docs[0]["logger"] == "hbd.runtime"
    assert docs[1]["group"] == "web"
    assert docs[3]["event"] == "a plain standard-library record"
    assert all(ISO.match(d["ts"] + " ") for d in docs)


def test_logformat_accepts_an_enum_and_refuses_an_unknown_name():
    class Fmt:
        value = "json"
    stream = io.StringIO()
    assert logs.configure(stream=stream, logformat=Fmt(), journal=False) == []
    logs.get().info("x")
    assert json.loads(stream.getvalue())["event"] == "x"
    problems = logs.configure(stream=stream, logformat="xml", journal=False)
    assert problems == ["logformat xml: unknown format (text or json); using text"]


def _parse_journal(data: bytes) -> list[tuple[str, str]]:
    """The native protocol, both forms (KEY=value and KEY\\n<le64 length>value)."""
    fields, i = [], 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            i = nl + 1
        else:
            key = line
            (size,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            value = data[nl + 9:nl + 9 + size]
            assert data[nl + 9 + size:nl + 10 + size] == b"\n"
            i = nl + 10 + size
        fields.append((key.decode(), value.decode()))
    return fields


@pytest.fixture
def journald(tmp_path, monkeypatch):
    """A fake journald: the native socket, read without blocking."""
    path = str(tmp_path / "journal.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    monkeypatch.setenv("HBD_JOURNAL_SOCKET", path)

    def entries():
        out = []
        while True:
            try:
                out.append(dict(_parse_journal(sock.recv(1 << 20))))
            except BlockingIOError:
                return out
    yield entries
    sock.close()


def test_under_journald_one_native_entry_per_line_and_nothing_else(journald, tmp_path):
    stream = io.StringIO()
    logfile = tmp_path / "ha-log"
    logs.configure(stream=stream, logfacility="local0", logfile=str(logfile), journal=True)
    root = logging.getLogger("hbd")
    kinds = sorted(type(h).__name__ for h in root.handlers if getattr(h, "_hbd_handler", False))
    assert kinds == ["JournalHandler", "WatchedFileHandler"]   # no syslog, no stderr copy
    _emit_everything()
    entries = journald()
    assert [e["MESSAGE"].split(" node=")[0] for e in entries] == [
        "node node1: is dead (deadtime)", "group web started", "value with\\na line break",
        "a plain standard-library record", "an internal error"]
    dead = entries[0]
    assert dead["PRIORITY"] == "6" and dead["SYSLOG_IDENTIFIER"] == "hbd"
    assert dead["SYSLOG_FACILITY"] == "16"                  # local0
    assert (dead["HBD_NODE"], dead["HBD_KIND"], dead["HBD_REASON"]) == ("node0", "node", "deadtime")
    assert entries[1]["HBD_GROUP"] == "web"
    assert entries[2]["HBD_DETAIL"] == "two\nlines"         # the length-prefixed form
    assert entries[3]["PRIORITY"] == "4"
    assert "ValueError: boom" in entries[4]["HBD_EXCEPTION"]
    assert stream.getvalue() == ""
    assert len(logfile.read_text().splitlines()) == 5


def test_journal_unwritable_falls_back_to_stderr(tmp_path, monkeypatch):
    path = tmp_path / "gone.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    monkeypatch.setenv("HBD_JOURNAL_SOCKET", str(path))
    stream = io.StringIO()
    logs.configure(stream=stream, journal=True)
    sock.close()
    os.unlink(path)                                           # journald went away
    logs.get().info("still said", node="n")
    assert stream.getvalue() == "still said node='n'\n"


def test_journal_stream_detection(tmp_path, monkeypatch):
    with open(tmp_path / "err", "w") as stream:
        info = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
        assert logs.under_journald(stream)
        monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino + 1}")
        assert not logs.under_journald(stream)      # inherited by a child whose stderr moved
        monkeypatch.setenv("JOURNAL_STREAM", "garbage")
        assert not logs.under_journald(stream)
    assert not logs.under_journald(io.StringIO())


def test_syslog_when_not_under_journald(tmp_path, monkeypatch):
    path = tmp_path / "log"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)     # stands in for /dev/log
    sock.bind(str(path))
    sock.settimeout(5)
    monkeypatch.setattr(logs, "SYSLOG_SOCKET", str(path))
    stream = io.StringIO()
    logs.configure(stream=stream, logfacility="daemon", journal=False)
    logs.get().info("to syslog", node="n")
    data = sock.recv(4096).decode()
    sock.close()
    assert re.fullmatch(r"<30>hbd\[\d+\]: info: to syslog node='n'\x00", data), data
    assert "to syslog" in stream.getvalue()          # and on stderr, as heartbeat does


def test_journal_field_names():
    assert logs.journal_field("interval_ms") == "HBD_INTERVAL_MS"
    assert logs.journal_field("a-b.c") == "HBD_A_B_C"


def test_a_rotated_logfile_is_reopened(tmp_path):
    path = tmp_path / "ha-log"
    logs.configure(logfile=str(path), stream=io.StringIO(), journal=False)
    logs.get().info("before")
    os.rename(path, tmp_path / "ha-log.1")             # what logrotate does
    logs.get().info("after")
    assert "before" in (tmp_path / "ha-log.1").read_text()
    assert "after" in path.read_text() and "before" not in path.read_text()


def test_heartbeat_words_go_to_syslog_as_heartbeat(tmp_path, monkeypatch):
    path = tmp_path / "log"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    monkeypatch.setenv("HBD_SYSLOG_SOCKET", str(path))
    logs.configure(stream=io.StringIO(), logfacility="local0", journal=False)
    logging.getLogger("hbd.hblog").warning("node node1: is dead")
    logs.get().info("after", node="n")
    first, second = sock.recv(4096).decode(), sock.recv(4096).decode()
    sock.close()
    assert re.fullmatch(r"<132>heartbeat\[\d+\]: WARN: node node1: is dead\x00", first), first
    assert re.fullmatch(r"<134>hbd\[\d+\]: info: after node='n'\x00", second), second


def test_heartbeat_words_in_the_journal_as_heartbeat(journald):
    logs.configure(stream=io.StringIO(), logfacility="local0", journal=True)
    logging.getLogger("hbd.hblog").info("Initial resource acquisition complete (T_RESOURCES(us))")
    entry, = journald()
    assert entry["SYSLOG_IDENTIFIER"] == "heartbeat"
    assert entry["MESSAGE"] == "info: Initial resource acquisition complete (T_RESOURCES(us))"
