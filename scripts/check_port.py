"""Stop `make demo` before it starts when its port is taken, saying how to pick
another: `python scripts/check_port.py 8000` exits 1 with a message if something
already listens on 127.0.0.1:8000, 0 if the port is free."""

from __future__ import annotations

import errno
import socket
import sys

HOST = "127.0.0.1"


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port_after(port: int, host: str = HOST) -> int | None:
    for candidate in range(port + 1, min(port + 200, 65535)):
        if port_is_free(candidate, host):
            return candidate
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit() or not 0 < int(argv[1]) < 65536:
        print(f"usage: {argv[0]} PORT (1-65535)", file=sys.stderr)
        return 2
    port = int(argv[1])
    if port_is_free(port):
        return 0
    suggestion = free_port_after(port) or port + 123
    print(
        f"Port {port} on {HOST} is already in use (another hippo-pcn demo, or another "
        f"program), so the demo cannot start there.\n"
        f"Stop whatever uses it, or run the demo on another port, for example:\n\n"
        f"    PORT={suggestion} make demo\n",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
