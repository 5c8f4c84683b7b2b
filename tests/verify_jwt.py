"""An independent verifier: PyJWT reads Gatehouse's JWKS and verifies an access token.

usage: verify_jwt.py JWKS_URL TOKEN ISSUER AUDIENCE  -> prints the claims as JSON, exit 0
"""
import json
import sys

import jwt

jwks_url, token, issuer, audience = sys.argv[1:5]
client = jwt.PyJWKClient(jwks_url)
key = client.get_signing_key_from_jwt(token)
header = jwt.get_unverified_header(token)
claims = jwt.decode(
    token,
    key.key,
    algorithms=["EdDSA"],
    issuer=issuer,
    audience=audience,
    options={"require": ["exp", "iss", "aud", "sub", "iat", "nbf"]},
)
print(json.dumps({"header": header, "claims": claims}))
