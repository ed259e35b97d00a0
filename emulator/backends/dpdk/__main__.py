"""Talk to a dpdk-app node's testpmd: `python -m emulator.backends.dpdk LAB NODE [COMMAND...]`.

    python -m emulator.backends.dpdk mylab rx "show port stats all"
    python -m emulator.backends.dpdk mylab tx "set fwd txonly" start        # one argument per command
    python -m emulator.backends.dpdk mylab rx                                # where its log, FIFO and argv are

Exit 0 when testpmd answered, 1 otherwise; nothing here restarts or stops the process.
"""
from __future__ import annotations

import json
import sys

from ...errors import EmulatorError
from .testpmd import Testpmd


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    lab, node, cmds = argv[0], argv[1], argv[2:]
    try:
        t = Testpmd.of(lab, node)
        if not cmds:
            print(json.dumps({k: t.spec[k] for k in ("node", "netns", "mode", "autostart", "ports", "ctl", "log",
                                                      "argv") if k in t.spec}, indent=1))
            return 0
        out = t.run(cmds)
    except EmulatorError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code if e.exit_code != 2 else 1
    sys.stdout.write(out.replace("testpmd> ", "").lstrip("\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
