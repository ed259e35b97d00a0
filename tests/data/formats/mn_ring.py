"""A ring of three switches: a bridge loop, which needs the spanning tree (added for it)."""
from mininet.topo import Topo


class Ring(Topo):
    def build(self, n=3):
        switches = [self.addSwitch('s%d' % i) for i in range(1, n + 1)]
        for i, s in enumerate(switches):
            self.addLink(s, switches[(i + 1) % n])
            self.addLink(self.addHost('h%d' % (i + 1)), s)


topos = {'ring': Ring}
