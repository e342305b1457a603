"""API key format, hashing and strength rules.

Generated keys look like ``wpk_<key id>_<secret>``: the key id is public and lets the server find the one
stored hash to check (never every hash). Keys written in the config files in clear (whatever their shape)
are stored under an id keyed with SECRET_KEY (an HMAC of the whole key), so that the same id always means
the same key and a reload never has to run bcrypt to tell, while the id, which is shown (console,
`config://agents`, audit rows), tells nothing about the key to whoever lacks SECRET_KEY. Ids of the older
form, `lit_` + a bare SHA-256 prefix, are still found (and renamed when the file gives the key in clear),
never written. `api_key_hash` values of generated keys use the key's own random id.

Keys are stored only as bcrypt hashes. bcrypt reads at most 72 bytes, so the key is first reduced to a
fixed 44-byte base64 SHA-256 digest: long keys are neither truncated nor rejected.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets

import bcrypt

GENERATED_PREFIX = "wpk_"
KEY_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
KEY_ID_LENGTH = 12
MIN_KEY_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 10
LITERAL_LOOKUP_PREFIX = "cfg_"
# Before issue 13: a bare SHA-256 prefix of the key (a fast offline guessing oracle). Found, never written.
LEGACY_LOOKUP_PREFIX = "lit_"
_LOOKUP_CONTEXT = b"wpublisher api key lookup id\0"

_GENERATED_RE = re.compile(rf"^{GENERATED_PREFIX}([a-z0-9]{{{KEY_ID_LENGTH}}})_([A-Za-z0-9_-]{{43}})$")
# What a stored hash line looks like in agents.yml `api_key_hash`: "<lookup id>:<bcrypt hash>".
_HASH_SPEC_RE = re.compile(
    rf"^((?:cfg|lit)_[0-9a-f]{{24}}|{GENERATED_PREFIX}[a-z0-9]{{{KEY_ID_LENGTH}}}):(\$2[aby]\$\d{{2}}\$[./A-Za-z0-9]{{53}})$"
)


def key_generate() -> tuple[str, str]:
    """Return (lookup id, full key) for a fresh key with a 256-bit secret."""
    key_id = "".join(secrets.choice(KEY_ID_ALPHABET) for _ in range(KEY_ID_LENGTH))
    secret = secrets.token_urlsafe(32)  # 32 bytes = 256 bits, 43 url-safe characters
    return GENERATED_PREFIX + key_id, f"{GENERATED_PREFIX}{key_id}_{secret}"


def key_lookup_id(key: str) -> str:
    """The id under which a key given in clear in the config files is stored: an HMAC keyed with
    SECRET_KEY, so that nothing shown is derived from the key alone."""
    from django.conf import settings

    digest = hmac.new(settings.SECRET_KEY.encode("utf-8"), _LOOKUP_CONTEXT + key.encode("utf-8"), hashlib.sha256)
    return LITERAL_LOOKUP_PREFIX + digest.hexdigest()[:24]


def key_legacy_lookup_id(key: str) -> str:
    """The id of the older form (a bare SHA-256 prefix) that rows and `api_key_hash` values written before
    may still carry; only looked up, never written."""
    return LEGACY_LOOKUP_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def key_spec_id(key: str) -> str:
    """The id `init` writes in `api_key_hash` for the fresh key it generated: that key's own random id
    (independent of SECRET_KEY; a generated key is never stored twice), else the keyed config-file id.
    `agent_key hash` uses `key_lookup_id`: the key it hashes may be a managed key stored under its id."""
    match = _GENERATED_RE.match(key)
    return GENERATED_PREFIX + match.group(1) if match else key_lookup_id(key)


def key_candidate_ids(key: str) -> list[str]:
    """Ids under which a presented key may be stored: its own key id when it has the generated shape
    (a key made by `agent_key rotate`, or written by `init` as a hash), the config-file id, and the older
    config-file id."""
    match = _GENERATED_RE.match(key)
    ids = [GENERATED_PREFIX + match.group(1)] if match else []
    return [*ids, key_lookup_id(key), key_legacy_lookup_id(key)]


def key_digest(key: str) -> bytes:
    """SHA-256 of the key: the pre-hash fed to bcrypt and the in-process verification cache entry."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def key_hash(key: str, *, rounds: int) -> str:
    return bcrypt.hashpw(base64.b64encode(key_digest(key)), bcrypt.gensalt(rounds)).decode("ascii")


def key_check(key: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(base64.b64encode(key_digest(key)), hashed.encode("ascii"))
    except ValueError:
        return False


@functools.cache
def key_dummy_hash(rounds: int) -> str:
    """A fixed hash that no key matches, made once per process: a presented key whose id matches no stored key
    is checked against it, so that an unknown key id costs the same bcrypt check as a wrong secret for a real
    one (no timing oracle for key ids, no cheaper guesses)."""
    return key_hash(secrets.token_urlsafe(32), rounds=rounds)


def key_strength_problem(key: str) -> str | None:
    """Why a key is too weak, or None. The seed asks for 32+ characters and enough distinct characters;
    its distinct/length > 0.5 ratio would refuse any long hex key, so a minimum distinct count is used."""
    if len(key) < MIN_KEY_LENGTH:
        return f"shorter than {MIN_KEY_LENGTH} characters"
    distinct = len(set(key))
    if distinct < MIN_DISTINCT_CHARACTERS:
        return f"only {distinct} distinct characters (at least {MIN_DISTINCT_CHARACTERS} required)"
    return None


def hash_spec_format(lookup_id: str, hashed: str) -> str:
    """The value to put in agents.yml `api_key_hash`."""
    return f"{lookup_id}:{hashed}"


def hash_spec_parse(value: str) -> tuple[str, str] | None:
    """(lookup id, bcrypt hash) from an `api_key_hash` value, or None when malformed."""
    match = _HASH_SPEC_RE.match(value.strip())
    if not match:
        return None
    return match.group(1), match.group(2)
