"""The framework's ceiling: a twisted.web resource that answers 200 and stores nothing.

Run: python -m bench.trivial_twisted PORT [CERT KEY]  (HTTPS when a cert is given).
"""

from __future__ import annotations

import sys
from pathlib import Path

from twisted.internet import reactor
from twisted.internet.ssl import CertificateOptions
from twisted.web.resource import Resource
from twisted.web.server import Site

from appliance.receiver.tls import server_options


class Accept(Resource):
    isLeaf = True

    def render_POST(self, request) -> bytes:
        request.content.read()
        return b"OK\n"


def main() -> None:
    port = int(sys.argv[1])
    site = Site(Accept())
    site.noisy = False
    site.log = lambda request: None
    if len(sys.argv) > 3:
        options: CertificateOptions = server_options(Path(sys.argv[2]), Path(sys.argv[3]))
        reactor.listenSSL(port, site, options, interface="127.0.0.1")
    else:
        reactor.listenTCP(port, site, interface="127.0.0.1")
    print("ready", flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
