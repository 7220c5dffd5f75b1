"""Opens what `phala-cvm env encrypt` sealed with the reference's own
primitives (the `cryptography` package dstack-sdk uses), as a CVM would:
X25519 with the ephemeral key, the shared secret as the AES-256-GCM key.

    reference-env-open.py VECTORS.json SEALED_HEX ENV_FILE
"""

import json
import sys

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

vectors = json.load(open(sys.argv[1]))
sealed = bytes.fromhex(sys.argv[2].strip())
private = X25519PrivateKey.from_private_bytes(bytes.fromhex(vectors["env_private_key"]))
shared = private.exchange(X25519PublicKey.from_public_bytes(sealed[:32]))
plain = json.loads(AESGCM(shared).decrypt(sealed[32:44], sealed[44:], None))
expected = []
for line in open(sys.argv[3], encoding="utf-8").read().splitlines():
    line = line.strip()
    if line and not line.startswith("#"):
        key, value = line.split("=", 1)
        expected.append({"key": key.strip(), "value": value.strip()})
if plain != {"env": expected}:
    sys.exit(f"FAIL: opened {plain}, expected {expected}")
print(f"reference opened phala-cvm's sealed env: {len(expected)} variables")
