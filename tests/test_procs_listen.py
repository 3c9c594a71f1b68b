"""serve's listening sockets (jobportal.procs.listen): one per web process, all on one port,
new connections spread over them by the kernel; a port already taken is refused."""

import socket

import pytest

from jobportal.procs import listen


def accepted(sock):
    """How many connections wait on ``sock`` (accepted here and closed)."""
    sock.setblocking(False)
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def test_web_processes_get_a_socket_each_on_one_port_and_share_the_connections():
    sockets = listen("127.0.0.1", 0, count=2)
    try:
        ports = {sock.getsockname()[1] for sock in sockets}
        assert len(ports) == 1
        [port] = ports
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        counts = [accepted(sock) for sock in sockets]
        for client in clients:
            client.close()
        # The kernel spreads them by address: both get some (all on one: 2 in 2**32).
        assert sum(counts) == 32 and min(counts) > 0, counts
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.parametrize("count", [1, 2])
def test_a_taken_port_is_refused_even_when_its_holder_shares_it(count):
    held = listen("127.0.0.1", 0, count=2)
    try:
        port = held[0].getsockname()[1]
        with pytest.raises(OSError):
            listen("127.0.0.1", port, count=count)
    finally:
        for sock in held:
            sock.close()
