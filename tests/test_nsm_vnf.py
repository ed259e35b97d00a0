"""VNF roles (emulator/backends/nsm/vnf.py): what each role adds for the way an endpoint is wired, and where
it refuses to go."""
import pytest

from emulator.backends.nsm import vnf
from emulator.backends.nsm.vnf import Wiring


def test_registry_has_the_issue_roles():
    assert {"passthrough", "iptables-firewall", "bridge-firewall", "nat", "icmp-responder", "iperf3-server",
            "user-space-forwarder", "commands"} <= set(vnf.names())
    assert "did you mean 'nat'?" in vnf.hint("nta")


def test_iptables_firewall_forwards_only_what_it_allows_per_connection_pair():
    w = Wiring("fw", "IP", transit=[("in0", "out0"), ("in1", "out1")])
    b = vnf.get("iptables-firewall").build(w, {"allow": ["icmp", "tcp/5201-5203", "udp"]})
    assert b.sysctls == {"net.ipv4.ip_forward": "1"}
    assert b.exec[0] == "iptables -P FORWARD DROP"
    assert "iptables -A FORWARD -i in0 -o out0 -p tcp --dport 5201:5203 -j ACCEPT" in b.exec
    assert "iptables -A FORWARD -i in1 -o out1 -p udp -j ACCEPT" in b.exec
    assert not any("INPUT" in c for c in b.exec)
    # where a chain ends, it filters INPUT on that interface instead
    b = vnf.get("iptables-firewall").build(Wiring("fw", "IP", terminal=["in2"]), {"allow": ["icmp"]})
    assert b.exec[-1] == "iptables -A INPUT -i in2 -j DROP" and "net.ipv4.ip_forward" not in b.sysctls


def test_passthrough_routes_ip_and_bridges_frames():
    assert vnf.get("passthrough").build(Wiring("p", "IP", transit=[("in0", "out0")]), {}).sysctls == \
        {"net.ipv4.ip_forward": "1"}
    b = vnf.get("passthrough").build(Wiring("p", "ETHERNET", transit=[("in0", "out0")]), {})
    assert not b.sysctls and "ip link set in0 master nsmbr0" in b.exec[0]
    assert vnf.get("passthrough").build(Wiring("p", "IP", terminal=["in0"]), {}).exec == []


def test_bridge_firewall_accepts_both_directions_by_port():
    b = vnf.get("bridge-firewall").build(Wiring("b", "ETHERNET", transit=[("in0", "out0")]), {"allow": ["tcp/80"]})
    assert "nft add rule bridge nsmfw forward tcp dport 80 accept" in b.exec
    assert "nft add rule bridge nsmfw forward tcp sport 80 accept" in b.exec
    assert any("policy drop" in c for c in b.exec)


def test_user_space_forwarder_one_process_per_pair_and_offloads_off_at_the_ends():
    b = vnf.get("user-space-forwarder").build(Wiring("u", "ETHERNET", transit=[("in0", "out0"), ("in1", "out1")]), {})
    assert b.offload_off_at_ends
    assert [c for c in b.exec if "pktfwd" in c] == ["$EMULATOR_PYTHON -m emulator.tools.pktfwd in0 out0 &",
                                                   "$EMULATOR_PYTHON -m emulator.tools.pktfwd in1 out1 &"]


def test_commands_fill_placeholders_and_leave_other_braces():
    w = Wiring("x", "IP", transit=[("in0", "out0")], terminal=["in1"])
    b = vnf.get("commands").build(w, {"run": ["tc qdisc add dev {in} root netem delay 1ms", "echo {if} on {node}",
                                              "nft 'add chain t c { type filter hook input priority 0; }'"]})
    assert b.exec == ["tc qdisc add dev in0 root netem delay 1ms", "echo in1 on x",
                      "nft 'add chain t c { type filter hook input priority 0; }'"]
    assert b.sysctls == {"net.ipv4.ip_forward": "1"}
    assert vnf.get("commands").build(w, {"run": ["true"], "forward": False}).sysctls == {}


@pytest.mark.parametrize("role, wiring, problem", [
    ("icmp-responder", Wiring("r", "IP", transit=[("in0", "out0")]), "ends a chain"),
    ("iperf3-server", Wiring("r", "IP", transit=[("in0", "out0")]), "ends a chain"),
    ("nat", Wiring("n", "IP", terminal=["in0"]), "is the last hop"),
    ("bridge-firewall", Wiring("b", "IP", transit=[("in0", "out0")]), "payload IP"),
    ("user-space-forwarder", Wiring("u", "IP", transit=[("in0", "out0")]), "use payload: ETHERNET"),
    ("iptables-firewall", Wiring("f", "ETHERNET", transit=[("in0", "out0")]), "use payload: IP"),
])
def test_roles_refuse_wirings_they_cannot_serve(role, wiring, problem):
    problems = vnf.get(role).check(wiring, {})
    assert problems and problem in problems[0]


@pytest.mark.parametrize("role, wiring", [
    ("passthrough", Wiring("p", "ETHERNET", transit=[("a", "b")])), ("passthrough", Wiring("p", "IP", terminal=["a"])),
    ("iptables-firewall", Wiring("f", "IP", transit=[("a", "b")], terminal=["c"])),
    ("icmp-responder", Wiring("r", "IP", terminal=["a"])), ("commands", Wiring("c", "ETHERNET", transit=[("a", "b")])),
])
def test_roles_accept_what_they_serve(role, wiring):
    assert vnf.get(role).check(wiring, {}) == []
