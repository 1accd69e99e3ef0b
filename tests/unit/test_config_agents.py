"""Resource classes: native, heartbeat scripts, LSB and OCF agents (hbd/config/agents.py)."""

from __future__ import annotations

import pytest

from hbd.config.agents import (Agent, AgentClass, AgentDirs, candidates, check_agent_args,
                               ocf_params, parse_agent)
from hbd.config.haresources import NATIVE_RESOURCES, parse_resource

DIRS = AgentDirs("/etc/ha.d/resource.d", "/etc/init.d", "/usr/lib/ocf")


@pytest.mark.parametrize("word, agent, paths", [
    ("IPaddr::10.0.0.5", Agent(AgentClass.NATIVE, "IPaddr"), []),
    ("httpd", Agent(AgentClass.SCRIPT, "httpd"),
     ["/etc/ha.d/resource.d/httpd", "/etc/init.d/httpd"]),
    ("heartbeat:IPaddr::10.0.0.5/24/eth0", Agent(AgentClass.HEARTBEAT, "IPaddr"),
     ["/etc/ha.d/resource.d/IPaddr"]),
    ("lsb:tomcat", Agent(AgentClass.LSB, "tomcat"), ["/etc/init.d/tomcat"]),
    ("ocf:heartbeat:IPaddr2::ip=10.0.0.5::cidr_netmask=24",
     Agent(AgentClass.OCF, "IPaddr2", "heartbeat"),
     ["/usr/lib/ocf/resource.d/heartbeat/IPaddr2"]),
])
def test_agent_class_and_lookup_order(word, agent, paths):
    resource, problem = parse_resource(word)
    assert problem is None
    parsed, _ = parse_agent(resource.name, NATIVE_RESOURCES)
    assert parsed == agent
    assert candidates(parsed, DIRS) == paths


@pytest.mark.parametrize("word, fragment", [
    ("ocf:heartbeat", "write ocf:PROVIDER:TYPE"),
    ("ocf:heartbeat:IPaddr2::10.0.0.5", "must be KEY=VALUE"),
    ("lsb:httpd::start", "take no arguments"),
    ("systemd:httpd", "resource class 'systemd' is not supported"),
    ("lsb:", "write lsb:NAME"),
])
def test_bad_agent_names_say_what_to_write(word, fragment):
    resource, problem = parse_resource(word)
    assert resource is None and fragment in problem


def test_ocf_params_become_reskey_environment():
    assert ocf_params(["ip=10.0.0.5", "nic=eth0", "x=a=b"]) == {
        "OCF_RESKEY_ip": "10.0.0.5", "OCF_RESKEY_nic": "eth0", "OCF_RESKEY_x": "a=b"}
    assert check_agent_args(Agent(AgentClass.OCF, "IPaddr2", "heartbeat"), ["ip=1"]) is None


def test_empty_directories_are_not_searched():
    assert candidates(Agent(AgentClass.SCRIPT, "httpd"), AgentDirs("", "/etc/init.d", "")) == [
        "/etc/init.d/httpd"]
