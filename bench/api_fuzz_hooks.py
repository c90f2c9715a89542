"""schemathesis hooks of bench/api_fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

Herald reads an integer as a JSON number written without a fraction or exponent (JSON Schema
draft 4's `integer`, serde's `i64`): a user id of `2.0` is refused with 400 `validation_error`,
because a float cannot name every 64-bit id exactly. JSON Schema 2020-12, the dialect of OpenAPI
3.1, counts `2.0` as an integer, and schemathesis spells integers that way on purpose. So that
`positive_data_acceptance` tests what the document can say, positive cases spell whole numbers
as integers here; negative cases are sent as drawn.

An `Idempotency-Key` names one request: the same key with another body is 422
`idempotency_key_reused` (by design, the Stripe behaviour), and schemathesis draws the same few
keys for many different bodies. Positive cases therefore get a key of their own (the
replay-and-refuse behaviour is tested in tests/api/storage/idempotency.rs).
"""

import uuid

import schemathesis
from schemathesis import GenerationMode


def _whole_numbers_as_integers(value):
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    if isinstance(value, list):
        return [_whole_numbers_as_integers(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole_numbers_as_integers(item) for key, item in value.items()}
    return value


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is not None and meta.generation.mode == GenerationMode.POSITIVE:
        if isinstance(case.body, (dict, list, float)):
            case.body = _whole_numbers_as_integers(case.body)
        if case.headers and "Idempotency-Key" in case.headers:
            case.headers["Idempotency-Key"] = uuid.uuid4().hex
    return case
