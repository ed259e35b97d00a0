"""A directory of the web UI server process's own (consoles' rc files, captures): made on first use
with mkdtemp (mode 0700, named PREFIX-PID-...), made again if something removed it, and removed
by this process only, never a directory it did not make."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading


class PrivateDir:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self._path: str | None = None
        self._lock = threading.Lock()

    def path(self) -> str:
        with self._lock:
            if self._path is None or not os.path.isdir(self._path):
                self._path = tempfile.mkdtemp(prefix=f"{self.prefix}-{os.getpid()}-")
            return self._path

    def remove(self) -> None:
        """Remove the directory this made (and everything in it); the next path() makes a new one."""
        with self._lock:
            d, self._path = self._path, None
        if d:
            shutil.rmtree(d, ignore_errors=True)
