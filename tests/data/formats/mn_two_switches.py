"""Two switches, two hosts each, written as Mininet custom files are (run: mn --custom THIS --topo twosw)."""
from mininet.topo import Topo


class TwoSwitches(Topo):
    def build(self, per_switch=2, bw=None):
        left = self.addSwitch('s1')
        right = self.addSwitch('s2')
        for i in range(1, per_switch + 1):
            h = self.addHost('h%d' % i)                     # Mininet's default address: 10.0.0.i/8
            self.addLink(h, left)
        for i in range(per_switch + 1, 2 * per_switch + 1):
            h = self.addHost('h%d' % i, mac='00:00:00:00:00:%02x' % i)
            self.addLink(h, right)
        self.addLink(left, right, bw=bw)                    # bw in Mbit/s, as TCLink takes it


topos = {'twosw': TwoSwitches, 'twosw_fast': (lambda: TwoSwitches(per_switch=1, bw=100))}
