#!/usr/bin/env python3
"""Writes the token seeds of corpus/jwt.

The valid seeds are signed with the test secrets of fuzz_targets/jwt.rs and are valid at its
fixed time, so the fuzzer starts from tokens that reach the claim checks. The other seeds are
broken one way each: wrong key, expired, forbidden header, wrong structure. Asymmetric seeds
carry made-up signatures, because the target has only public keys.

Run from the fuzz directory: python3 make_jwt_seeds.py
"""

import base64
import hashlib
import hmac
import json
import pathlib

DS_SECRET = b"fuzz-ds-secret-4f1c9e27b3a85d60e2c7194b"
CONNECTOR_SECRET = b"fuzz-connector-secret-8d2e6a0c5b7f3914"
USER_SECRET = b"fuzz-user-secret-c3b8e1f47a2d9065be31"
OTHER_SECRET = b"fuzz-unrelated-secret-5e0a7c13d9b24f86"
NOW = 1_767_609_600
DOCUMENT = "7a0b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
BINAIRE_URL = f"https://efalia.example.test/api/only-office/{DOCUMENT}/binaire?authorization=abc"

OUTPUT = pathlib.Path(__file__).resolve().parent / "corpus" / "jwt"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def part(value) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def hs256(claims, secret: bytes, header=None) -> str:
    signing_input = part(header or {"alg": "HS256", "typ": "JWT"}) + "." + part(claims)
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


def unsigned(header, claims, signature: bytes) -> str:
    return part(header) + "." + part(claims) + "." + b64url(signature)


def access(audience: str, right: str, **overrides):
    claims = {
        "aud": audience,
        "doc": DOCUMENT,
        "sub": "u-101",
        "droit": right,
        "iat": NOW - 10,
        "exp": NOW + 900,
        "jti": "0f3c8a5e9b2d4c71a6e8f05b3d9c2e14",
    }
    claims.update(overrides)
    return claims


CALLBACK = {
    "key": "4711-v7-9f2c",
    "status": 2,
    "url": "https://ds.example.test/cache/files/data/4711-v7-9f2c_12/output.docx/output.docx?md5=abc&expires=1767609900&filename=output.docx",
    "filetype": "docx",
    "users": ["u-101"],
    "actions": [{"type": 0, "userid": "u-101"}],
    "iat": NOW - 5,
    "exp": NOW + 300,
}
FORCESAVE = {
    "key": "4711-v7-9f2c",
    "status": 6,
    "filetype": "docx",
    "users": ["u-101"],
    "actions": [{"type": 2, "userid": "u-101"}],
    "forcesavetype": 1,
}
USER = {
    "sub": "u-101",
    "name": "Utilisateur A",
    "roles": ["admin"],
    "iss": "https://idp.example.test",
    "aud": "efalia-doc",
    "iat": NOW - 60,
    "exp": NOW + 3600,
}
USER_CLAIMS_ONLY = {key: value for key, value in USER.items() if key not in ("iss", "aud")}

SEEDS = {
    # Valid for the target's keys and time.
    "access-download-valid": hs256(access("oo-binaire", "lecture"), CONNECTOR_SECRET),
    "access-callback-valid": hs256(access("oo-callback", "ecriture"), CONNECTOR_SECRET),
    "ds-body-valid": hs256(CALLBACK, DS_SECRET),
    "ds-header-valid": "Bearer " + hs256({"payload": FORCESAVE, "iat": NOW, "exp": NOW + 300}, DS_SECRET),
    "ds-download-valid": "Bearer " + hs256({"payload": {"url": BINAIRE_URL}, "iat": NOW, "exp": NOW + 300}, DS_SECRET),
    "user-valid": hs256(USER, USER_SECRET, {"alg": "HS256", "typ": "JWT", "kid": "key-1"}),
    "user-bearer-valid": "Bearer " + hs256(USER, USER_SECRET),
    # Signed with the right key, rejected on a claim.
    "access-expired": hs256(access("oo-binaire", "lecture", iat=NOW - 2000, exp=NOW - 1000), CONNECTOR_SECRET),
    "access-other-document": hs256(access("oo-binaire", "lecture", doc="00000000-0000-4000-8000-000000000000"), CONNECTOR_SECRET),
    "access-bad-right": hs256(access("oo-callback", "admin"), CONNECTOR_SECRET),
    "access-not-yet-valid": hs256(access("oo-binaire", "lecture", nbf=NOW + 600), CONNECTOR_SECRET),
    "ds-body-with-payload": hs256({"payload": CALLBACK, "exp": NOW + 300}, DS_SECRET),
    "ds-header-payload-string": "Bearer " + hs256({"payload": json.dumps(FORCESAVE), "exp": NOW + 300}, DS_SECRET),
    "ds-download-other-url": "Bearer " + hs256({"payload": {"url": "https://evil.example.test/x"}, "exp": NOW + 300}, DS_SECRET),
    "user-no-issuer": hs256(USER_CLAIMS_ONLY, USER_SECRET),
    "user-connector-audience": hs256(dict(USER, aud=["efalia-doc", "oo-binaire"]), USER_SECRET),
    "user-no-exp": hs256({key: value for key, value in USER.items() if key != "exp"}, USER_SECRET),
    # Signed with another key or not signed.
    "access-other-key": hs256(access("oo-binaire", "lecture"), OTHER_SECRET),
    "ds-body-connector-key": hs256(CALLBACK, CONNECTOR_SECRET),
    "alg-none": part({"alg": "none"}) + "." + part(USER) + ".",
    "alg-lowercase": hs256(USER, USER_SECRET, {"alg": "hs256"}),
    "header-jku": hs256(CALLBACK, DS_SECRET, {"alg": "HS256", "jku": "https://evil.example.test/jwks.json"}),
    "header-crit": hs256(CALLBACK, DS_SECRET, {"alg": "HS256", "crit": ["exp"]}),
    "header-kid-access": hs256(access("oo-binaire", "lecture"), CONNECTOR_SECRET, {"alg": "HS256", "kid": "k"}),
    "es256-made-up-signature": unsigned({"alg": "ES256", "typ": "JWT"}, USER, bytes(range(64))),
    "eddsa-made-up-signature": "Bearer " + unsigned({"alg": "EdDSA"}, USER, bytes(range(64, 128))),
    "rs256-made-up-signature": unsigned({"alg": "RS256"}, USER, bytes(range(256))),
    # Broken structure.
    "two-parts": part({"alg": "HS256"}) + "." + part(USER),
    "four-parts": hs256(USER, USER_SECRET) + ".e30",
    "padded-signature": hs256(USER, USER_SECRET) + "=",
    "standard-base64": part({"alg": "HS256"}) + "." + base64.b64encode(json.dumps(USER).encode()).decode() + ".c2ln",
    "claims-array": part({"alg": "HS256"}) + "." + b64url(b"[1,2,3]") + "." + b64url(b"x" * 32),
    "claims-not-json": part({"alg": "HS256"}) + "." + b64url(b"{\"sub\":") + "." + b64url(b"x" * 32),
    "header-duplicate-alg": b64url(b'{"alg":"HS256","alg":"none"}') + "." + part(USER) + ".",
    "bearer-only": "Bearer",
    "bearer-two-spaces": "Bearer  abc.def.ghi",
    "bearer-lowercase": "bearer " + hs256(USER, USER_SECRET),
    "basic-scheme": "Basic dXNlcjpwYXNzd29yZA==",
    "empty": "",
}


def main() -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for name, text in SEEDS.items():
        (OUTPUT / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(SEEDS)} seeds to {OUTPUT}")


if __name__ == "__main__":
    main()
