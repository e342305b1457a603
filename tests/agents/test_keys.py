from __future__ import annotations

import re

import pytest

from core import keys


def test_generated_keys_have_a_public_id_and_a_256_bit_secret():
    key_id, key = keys.key_generate()
    match = re.fullmatch(r"(wpk_[a-z0-9]{12})_([A-Za-z0-9_-]{43})", key)
    assert match and match.group(1) == key_id
    assert keys.key_candidate_ids(key)[0] == key_id
    assert keys.key_strength_problem(key) is None
    assert keys.key_generate()[1] != key


def test_long_keys_are_neither_truncated_nor_rejected():
    # bcrypt reads 72 bytes: two keys sharing their first 100 characters must not verify each other.
    base = "k" * 50 + "0123456789abcdefghijklmnopqrstuvwxyz" + "x" * 14
    first, second = base + "-first", base + "-second"
    hashed = keys.key_hash(first, rounds=4)
    assert keys.key_check(first, hashed)
    assert not keys.key_check(second, hashed)
    assert keys.key_check("é" * 300, keys.key_hash("é" * 300, rounds=4))


def test_a_stored_hash_is_not_the_key():
    _, key = keys.key_generate()
    hashed = keys.key_hash(key, rounds=4)
    assert key not in hashed and hashed.startswith("$2b$04$")


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("short-key", "shorter than 32 characters"),
        ("a" * 40, "only 1 distinct characters (at least 10 required)"),
        ("abcabcabcabcabcabcabcabcabcabcabcabc", "only 3 distinct characters (at least 10 required)"),
        ("sk-aw-8f9e7d6c5b4a3210fedcba9876543210", None),
        ("0123456789abcdef0123456789abcdef", None),
    ],
)
def test_strength_rule(key, problem):
    assert keys.key_strength_problem(key) == problem


def test_hash_spec_round_trip_and_malformed_values():
    key = "sk-aw-8f9e7d6c5b4a3210fedcba9876543210"
    lookup_id, hashed = keys.key_lookup_id(key), keys.key_hash(key, rounds=4)
    assert keys.hash_spec_parse(keys.hash_spec_format(lookup_id, hashed)) == (lookup_id, hashed)
    assert keys.hash_spec_parse(hashed) is None
    assert keys.hash_spec_parse(f"{lookup_id}:not-bcrypt") is None
