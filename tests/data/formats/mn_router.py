"""A Linux router between two subnets (the linuxrouter idiom): addNode with a Router class,
interface names and addresses given per link end, hosts with a default route through the router."""
from mininet.node import Node
from mininet.topo import Topo


class LinuxRouter(Node):
    def config(self, **params):
        super(LinuxRouter, self).config(**params)
        self.cmd('sysctl net.ipv4.ip_forward=1')


class RouterTopo(Topo):
    def build(self):
        r0 = self.addNode('r0', cls=LinuxRouter, ip='192.168.1.1/24')
        s1, s2 = self.addSwitch('s1'), self.addSwitch('s2')
        self.addLink(s1, r0, intfName2='r0-eth1', params2={'ip': '192.168.1.1/24'})
        self.addLink(s2, r0, intfName2='r0-eth2', params2={'ip': '172.16.0.1/12'})
        h1 = self.addHost('h1', ip='192.168.1.100/24', defaultRoute='via 192.168.1.1')
        h2 = self.addHost('h2', ip='172.16.0.100/12', defaultRoute='via 172.16.0.1')
        self.addLink(h1, s1)
        self.addLink(h2, s2)


topos = {'router': RouterTopo}
