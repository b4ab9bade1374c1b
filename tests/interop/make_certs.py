#!/usr/bin/env python3
"""Writes a test CA and a server certificate it signs, for the TLS checks.

    python make_certs.py DIR

Writes DIR/ca.pem (the CA the clients trust explicitly), DIR/cert.pem (the
server's certificate chain: a leaf for 127.0.0.1 and localhost) and
DIR/key.pem (its private key, an EC key in SEC1 PEM). Made with `trustme` (PyPI), fresh on
every run; nothing is ever trusted system-wide.
"""

import os
import sys

import trustme


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = argv[0]
    os.makedirs(out, exist_ok=True)
    ca = trustme.CA(organization_name="tidings interop test CA")
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(os.path.join(out, "ca.pem"))
    with open(os.path.join(out, "cert.pem"), "wb") as chain:
        for blob in leaf.cert_chain_pems:
            chain.write(blob.bytes())
    leaf.private_key_pem.write_to_path(os.path.join(out, "key.pem"))
    print(f"test CA and a leaf for 127.0.0.1, localhost in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
