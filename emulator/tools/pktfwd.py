"""A user-space forwarder between two interfaces that have no addresses (seed 000's 1S2C user-app).

Every frame received on one interface is sent out of the other, through AF_PACKET sockets:
the kernel's IP stack is bypassed, as with the libpcap program of the paper. Run it inside a
node:  python -m emulator.tools.pktfwd eth0 eth1

Large offloaded frames and unfinished checksums cannot be re-sent through AF_PACKET: turn TSO/GSO off on the senders
and checksum offload (`ethtool -K eth0 tx off tso off gso off`), as the example topology does.
"""
from __future__ import annotations

import argparse
import select
import signal
import socket
import struct
import sys

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_OUTGOING = 4


def open_port(ifname: str) -> socket.socket:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, 0))
    ifindex = socket.if_nametoindex(ifname)
    mreq = struct.pack("iHH8s", ifindex, PACKET_MR_PROMISC, 0, b"")
    s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setblocking(False)
    return s


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a")
    p.add_argument("b")
    args = p.parse_args(argv)
    ports = {}
    try:
        sa, sb = open_port(args.a), open_port(args.b)
    except OSError as e:
        print(f"pktfwd: {e}", file=sys.stderr)
        return 1
    ports[sa.fileno()] = (sa, sb)
    ports[sb.fileno()] = (sb, sa)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    counts = {args.a: 0, args.b: 0}
    poll = select.epoll()
    for fd in ports:
        poll.register(fd, select.EPOLLIN)
    try:
        while True:
            for fd, _ev in poll.poll():
                src, dst = ports[fd]
                for _ in range(64):
                    try:
                        frame, addr = src.recvfrom(65535)
                    except BlockingIOError:
                        break
                    if addr[2] == PACKET_OUTGOING:
                        continue
                    try:
                        dst.send(frame)
                        counts[addr[0]] += 1
                    except OSError:
                        pass  # dropped, as a NIC would
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
