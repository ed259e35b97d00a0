"""An OVS switch, and what has no equivalent here: a controller, CPU limits, a VLAN host class,
link queue and HTB settings. Each becomes a warning naming it."""
from mininet.node import CPULimitedHost, OVSSwitch, RemoteController
from mininet.link import TCLink
from mininet.topo import Topo


class VLANHost(CPULimitedHost):
    pass


class Extras(Topo):
    def build(self, hosts=2):
        s1 = self.addSwitch('s1', cls=OVSSwitch, protocols='OpenFlow13')
        for i in range(1, hosts + 1):
            opts = {'cls': VLANHost} if i == 1 else {'cls': CPULimitedHost, 'cpu': 0.5}
            self.addLink(self.addHost('h%d' % i, **opts), s1, cls=TCLink, bw=50, max_queue_size=100,
                         use_htb=True)


topos = {'extras': Extras}
controllers = {'remote': RemoteController}
