"""sandbox.event_patterns matches as EventBridge documents it (the examples of "Creating event patterns" and
"Content filtering"), and refuses what PutRule refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.events.models import EventPattern

from sandbox.event_patterns import PatternError, matches
from sandbox.moto_aws import follow_aws

# The EC2 state-change event of AWS's pattern documentation, with a few fields added for the filters.
EVENT: dict[str, Any] = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {
        "instance-id": "i-1234567890abcdef0",
        "state": "terminated",
        "c-count": 5,
        "d-count": 3,
        "x-limit": 301.8,
        "source-ip": "10.0.0.123",
        "flagged": True,
        "note": None,
        "categories": ["Violence", "Alcohol"],
        "location": {"city": "Seattle", "zone": "us-west-1a"},
        "items": [{"kind": "a", "n": 1}, {"kind": "b", "n": 2}],
        "filename": "dir/Photo.PNG",
    },
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        # exact values: any one of the list; fields the pattern does not name are ignored
        ({"source": ["aws.ec2"]}, True),
        ({"source": ["aws.s3", "aws.ec2"]}, True),
        ({"source": ["aws.s3"]}, False),
        ({"detail": {"state": ["terminated"]}}, True),
        ({"detail": {"state": ["Terminated"]}}, False),  # exact is case-sensitive
        ({"detail": {"missing": ["x"]}}, False),
        ({"source": ["aws.ec2"], "detail": {"state": ["running"]}}, False),  # every named field must match
        # literals by type: true is not "true", 5 is 5.0, null matches null only
        ({"detail": {"flagged": [True]}}, True),
        ({"detail": {"flagged": ["true"]}}, False),
        ({"detail": {"c-count": [5.0]}}, True),
        ({"detail": {"c-count": ["5"]}}, False),
        ({"detail": {"note": [None]}}, True),
        ({"detail": {"state": [None]}}, False),
        # an array in the event matches when any element does
        ({"detail": {"categories": ["Alcohol"]}}, True),
        ({"detail": {"categories": ["Gambling", "Violence"]}}, True),
        ({"detail": {"categories": ["Gambling"]}}, False),
        ({"resources": [{"prefix": "arn:aws:ec2:us-west-1:"}]}, True),
        # a nested pattern over an array of objects: some element matches it
        ({"detail": {"items": {"kind": ["b"]}}}, True),
        ({"detail": {"items": {"kind": ["c"]}}}, False),
        # numeric
        ({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, True),
        ({"detail": {"c-count": [{"numeric": [">", 0, "<", 5]}]}}, False),
        ({"detail": {"d-count": [{"numeric": ["<", 10]}]}}, True),
        ({"detail": {"x-limit": [{"numeric": ["=", 301.8]}]}}, True),
        ({"detail": {"x-limit": [{"numeric": [">=", 301.8]}]}}, True),
        ({"detail": {"x-limit": [{"numeric": [">", 301.8]}]}}, False),
        ({"detail": {"state": [{"numeric": [">", 0]}]}}, False),  # a string is not a number
        ({"detail": {"flagged": [{"numeric": [">=", 1]}]}}, False),  # nor is true
        # prefix, suffix, equals-ignore-case, wildcard
        ({"detail": {"state": [{"prefix": "term"}]}}, True),
        ({"detail": {"state": [{"prefix": "Term"}]}}, False),
        ({"detail": {"state": [{"prefix": {"equals-ignore-case": "TERM"}}]}}, True),
        ({"detail": {"filename": [{"suffix": ".png"}]}}, False),
        ({"detail": {"filename": [{"suffix": {"equals-ignore-case": ".png"}}]}}, True),
        ({"detail": {"state": [{"equals-ignore-case": "TERMINATED"}]}}, True),
        ({"detail": {"filename": [{"wildcard": "dir/*.PNG"}]}}, True),
        ({"detail": {"filename": [{"wildcard": "*/Photo*"}]}}, True),
        ({"detail": {"filename": [{"wildcard": "Photo*"}]}}, False),  # the whole value must match
        ({"detail": {"c-count": [{"prefix": "5"}]}}, False),  # string filters match strings only
        # anything-but: present, and none of the values (a missing field does not match)
        ({"detail": {"state": [{"anything-but": "running"}]}}, True),
        ({"detail": {"state": [{"anything-but": ["stopped", "terminated"]}]}}, False),
        ({"detail": {"c-count": [{"anything-but": [0, 1]}]}}, True),
        ({"detail": {"state": [{"anything-but": {"prefix": "term"}}]}}, False),
        ({"detail": {"filename": [{"anything-but": {"suffix": ".png"}}]}}, True),
        ({"detail": {"missing": [{"anything-but": "x"}]}}, False),
        # exists: about the leaf; false also when its parent is missing; an object is not a leaf
        ({"detail": {"state": [{"exists": True}]}}, True),
        ({"detail": {"missing": [{"exists": False}]}}, True),
        ({"detail": {"state": [{"exists": False}]}}, False),
        ({"absent": {"child": [{"exists": False}]}}, True),
        ({"absent": {"child": [{"exists": True}]}}, False),
        ({"detail": {"location": [{"exists": True}]}}, False),
        ({"detail": {"note": [{"exists": True}]}}, True),  # a null leaf is there
        # cidr
        ({"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}, True),
        ({"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}, False),
        # $or: any branch, beside the level's other fields
        ({"$or": [{"source": ["aws.s3"]}, {"detail": {"c-count": [5]}}]}, True),
        ({"$or": [{"source": ["aws.s3"]}, {"detail": {"c-count": [6]}}]}, False),
        ({"source": ["aws.s3"], "$or": [{"region": ["us-west-1"]}, {"account": ["111122223333"]}]}, False),
        ({"detail": {"$or": [{"state": ["running"]}, {"d-count": [{"numeric": ["<", 4]}]}]}}, True),
        # a literal never matches an object
        ({"detail": {"location": ["Seattle"]}}, False),
        ({"detail": {"location": {"city": ["Seattle"]}}}, True),
    ],
)
def test_a_pattern_matches_as_eventbridge_documents(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, EVENT) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": []},
        {"source": "aws.ec2"},
        {"detail": {"state": [{"begins-with": "t"}]}},
        {"detail": {"state": [{"prefix": "t", "suffix": "d"}]}},
        {"detail": {"c-count": [{"numeric": [">", "0"]}]}},
        {"detail": {"c-count": [{"numeric": ["<", 5, ">", 0]}]}},
        {"detail": {"c-count": [{"numeric": ["~", 5]}]}},
        {"detail": {"c-count": [{"numeric": [">", 0, "<"]}]}},
        {"detail": {"state": [{"exists": "yes"}]}},
        {"detail": {"state": [{"anything-but": {"numeric": [">", 0]}}]}},
        {"detail": {"source-ip": [{"cidr": "10.0.0.0/33"}]}},
        {"$or": []},
        {"$or": [["aws.ec2"]]},
        {"detail": {"state": [["terminated"]]}},
    ],
)
def test_a_pattern_eventbridge_would_refuse_is_an_error(pattern: dict[str, Any]) -> None:
    with pytest.raises(PatternError):
        matches(pattern, EVENT)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"detail": {"items": {"kind": ["b"]}}}, True),  # moto alone: False
        ({"detail": {"flagged": [{"numeric": [">=", 1]}]}}, False),  # moto alone: True (true taken as 1)
    ],
)
def test_the_sandboxs_eventbridge_routes_by_aws_matching_where_moto_differs(
    pattern: dict[str, Any], expected: bool
) -> None:
    # Given moto's EventBridge as the sandbox runs it
    follow_aws()
    # Then a rule's pattern matches as AWS matches it, not as moto alone would
    assert EventPattern.load(json.dumps(pattern)).matches_event(EVENT) is expected
