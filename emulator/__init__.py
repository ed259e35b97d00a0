"""emulator: a declarative network topology emulator for NFV service chains."""
__version__ = "0.1.0"
