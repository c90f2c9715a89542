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

The inbox filters (list query, bulk `filter`) have rules across fields that JSON Schema cannot
say: `archived`/`snoozed` notifications are read and never both, a read one is seen,
`created_after` comes before `created_before`, and a `type` must be in the `category` given with
it (the fuzzed node's categories hold every type, so `category` is dropped where a type is named).
`snooze_until` must be in the next 366 days, relative to now. Cases are made to follow them here,
in every phase (`map_case`; `before_add_examples` for the examples phase, which `map_case` does
not see); tests/api/inbox checks each refusal, naming its fields.
"""

import datetime
import json
import re
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


NAME = re.compile(r"^[a-z0-9_.-]{1,50}$")


def _consistent_filter(filter, query):
    """Drops the fields of `filter` (a list query, `query`, or a bulk filter) that contradict
    another. Only well-typed values are looked at: a case made to break the schema keeps its
    break."""
    _truthy = (lambda v: isinstance(v, str) and v.lower() in ("true", "1")) if query else (lambda v: v is True)
    _falsy = (lambda v: isinstance(v, str) and v.lower() in ("false", "0")) if query else (lambda v: v is False)
    named = any(key in filter for key in ("type", "types", "notification_type"))
    if named and isinstance(filter.get("category"), str) and NAME.match(filter["category"]):
        filter.pop("category")
    if query and isinstance(filter.get("data"), str) and not _json_object(filter["data"]):
        filter["data"] = '{"project":1}'
    hidden = _truthy(filter.get("archived")) or _truthy(filter.get("snoozed"))
    if _truthy(filter.get("archived")) and _truthy(filter.get("snoozed")):
        filter.pop("snoozed")
    if hidden and _falsy(filter.get("read")):
        filter.pop("read")
    if hidden and _truthy(filter.get("unread")):
        filter.pop("unread")
    if _truthy(filter.get("unread")) and _truthy(filter.get("read")):
        filter.pop("read")
    if _falsy(filter.get("seen")) and (_truthy(filter.get("read")) or hidden):
        filter.pop("seen")
    if _date_time(filter.get("created_after")) and _date_time(filter.get("created_before")):
        filter.pop("created_before")
    return filter


def _json_object(text):
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _date_time(value):
    if not isinstance(value, str):
        return False
    try:
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def _future():
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    return later.strftime("%Y-%m-%dT%H:%M:%SZ")


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is not None and meta.generation.mode == GenerationMode.POSITIVE:
        if isinstance(case.body, (dict, list, float)):
            case.body = _whole_numbers_as_integers(case.body)
        if case.headers and "Idempotency-Key" in case.headers:
            case.headers["Idempotency-Key"] = uuid.uuid4().hex
    # Every mode: a negative case breaks the schema somewhere, and should not be refused instead
    # for a rule the schema cannot say.
    _follow_cross_field_rules(case)
    return case


def _follow_cross_field_rules(case):
    if isinstance(case.query, dict) and case.path == "/auth/notifications/":
        _consistent_filter(case.query, True)
    if isinstance(case.body, dict):
        if isinstance(case.body.get("filter"), dict):
            _consistent_filter(case.body["filter"], False)
        if _date_time(case.body.get("snooze_until")):
            case.body["snooze_until"] = _future()


@schemathesis.hook
def before_add_examples(context, examples):
    for case in examples:
        _follow_cross_field_rules(case)
