"""Links with delay, jitter and loss (netem): valid, deployable where the kernel has sch_netem."""
from mininet.topo import Topo


class Impaired(Topo):
    def build(self):
        s1 = self.addSwitch('s1')
        self.addLink(self.addHost('h1'), s1, bw=10, delay='5ms', jitter='1ms', loss=1)
        self.addLink(self.addHost('h2'), s1, delay='10ms')


topos = {'impaired': Impaired}
