"""The one ethtool setting the emulator makes, as the ethtool tool makes it: an SIOCETHTOOL ioctl,
here on a socket opened in the device's namespace (one per namespace, not an `ethtool` process per
device: 3 ms each through `ip netns exec`)."""
from __future__ import annotations

import ctypes
import fcntl
import socket
import struct

from . import netns

SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17   # set TX checksumming: the kernel turns every TX checksum feature (and what
                         # needs them: TSO, GSO over them) on or off, as `ethtool -K DEV tx off`


def tx_checksum_off(ns: str | None, devices: list[str]) -> dict[str, OSError]:
    """TX checksum offload off on each of DEVICES in namespace NS (None: this process's); the
    devices where that failed, with their error."""
    if ns is None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    else:
        with netns.entered(ns):   # the ioctl acts in the namespace the socket was made in
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    failed: dict[str, OSError] = {}
    with sock:
        for dev in devices:
            value = ctypes.create_string_buffer(struct.pack("=II", ETHTOOL_STXCSUM, 0), 8)
            # struct ifreq: the name (IFNAMSIZ), then ifr_data, a pointer to the ethtool_value
            ifreq = struct.pack("16sP", dev.encode(), ctypes.addressof(value)).ljust(40, b"\0")
            try:
                fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
            except OSError as e:
                failed[dev] = e
    return failed
