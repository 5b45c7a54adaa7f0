"""Lambda functions: built the same way, configured exactly by their settings classes, fed by their queues."""

from __future__ import annotations

import json

import pytest

from functions.common.settings import (
    BackfillSettings,
    CollectSettings,
    DigestSettings,
    EnvSettings,
    ReviewSettings,
    StartSettings,
)
from tests.infra.synth import Synth, render

pytestmark = pytest.mark.slow

POWERTOOLS_KEYS = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}
SETTINGS: dict[str, type[EnvSettings]] = {
    "start_moderation": StartSettings,
    "collect_results": CollectSettings,
    "send_digest": DigestSettings,
    "queue_backfill": BackfillSettings,
    "review_api": ReviewSettings,
}


@pytest.mark.parametrize("folder", SETTINGS)
@pytest.mark.parametrize("synth_name", ["dev", "prod", "quarantine"])
def test_environment_is_exactly_the_settings_fields_plus_powertools(
    folder: str, synth_name: str, request: pytest.FixtureRequest
) -> None:
    # Given a function and its settings class
    synth: Synth = request.getfixturevalue(synth_name)
    _, function = synth.function(folder)
    environment = function["Properties"]["Environment"]["Variables"]
    # Then its variables are the settings' keys plus Powertools' (and those of features the context turns on, whose
    # settings fields have a default: tests/infra/test_quarantine.py checks when), and the settings class parses them
    optional = set(SETTINGS[folder].optional_env_keys())
    assert set(environment) - optional == set(SETTINGS[folder].env_keys()) | POWERTOOLS_KEYS
    assert environment["POWERTOOLS_SERVICE_NAME"] == folder
    assert environment["POWERTOOLS_METRICS_NAMESPACE"] == "modlake"
    SETTINGS[folder].from_env({key: render(value) for key, value in environment.items()})


def test_settings_values_come_from_the_config(prod: Synth) -> None:
    # Given prod's config (thresholds, ignored categories, suffixes, prefix, SEGMENTS)
    config = prod.config
    start = StartSettings.from_env(
        {
            k: render(v)
            for k, v in prod.function("start_moderation")[1]["Properties"]["Environment"]["Variables"].items()
        }
    )
    collect = CollectSettings.from_env(
        {k: render(v) for k, v in prod.function("collect_results")[1]["Properties"]["Environment"]["Variables"].items()}
    )
    # Then what the functions read equals what was configured
    assert start.video_suffixes == config.video_suffixes == ("mp4", "mov", "m4v")
    assert start.key_prefix == config.key_prefix
    assert start.min_confidence == config.min_confidence
    assert start.media_bucket == f"<{prod.output_ref('MediaBucketName')}>"
    assert start.start_queue_url == f"<{prod.output_ref('StartQueueUrl')}>"
    assert start.rekognition_topic_arn == f"<{prod.output_ref('RekognitionTopicArn')}>"
    assert (start.job_limit, start.max_video_seconds) == (config.rekognition_job_limit, 90 * 60) == (50, 5400)
    assert collect.category_thresholds == {"Violence": 60.0, "Alcohol": 95.5}
    assert collect.ignored_categories == ("Swimwear or Underwear",)
    assert collect.aggregate_by == "SEGMENTS"
    assert collect.flag_threshold == config.flag_threshold
    assert (collect.event_bus_name, collect.event_source) == ("default", "modlake")
    assert collect.collect_queue_url == f"<{prod.output_ref('CollectQueueUrl')}>"


@pytest.mark.parametrize("synth_name", ["dev", "prod"])
def test_every_function_shares_runtime_tracing_logging_layers_and_code(
    synth_name: str, request: pytest.FixtureRequest
) -> None:
    # Given every modlake function
    synth: Synth = request.getfixturevalue(synth_name)
    functions = synth.modlake_functions().values()
    region = synth.config.region
    for function in functions:
        properties = function["Properties"]
        log_group = synth.resources_json[properties["LoggingConfig"]["LogGroup"]["Ref"]]
        # Then each is Python 3.13 on arm64, traced, logging JSON to its own retained-as-configured log group,
        # with the region's Powertools and AWS SDK for pandas layers, and no reserved concurrency
        assert (properties["Runtime"], properties["Architectures"]) == ("python3.13", ["arm64"])
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["LoggingConfig"]["LogFormat"] == "JSON"
        assert log_group["Properties"]["RetentionInDays"] == synth.config.log_retention_days
        powertools, pandas = properties["Layers"]
        assert synth.json["Parameters"][powertools["Ref"]]["Default"] == synth.config.powertools_layer_parameter
        assert pandas == f"arn:aws:lambda:{region}:336392948345:layer:AWSSDKPandas-Python313-Arm64:14"
        assert "ReservedConcurrentExecutions" not in properties
    # And all of them run the one shared code asset
    assert len({json.dumps(f["Properties"]["Code"], sort_keys=True) for f in functions}) == 1


def test_timeouts_and_memory(dev: Synth) -> None:
    # Given the three functions / Then starting is short and small, collecting long and large, the digest in between
    start = dev.function("start_moderation")[1]["Properties"]
    collect = dev.function("collect_results")[1]["Properties"]
    digest = dev.function("send_digest")[1]["Properties"]
    assert (start["Timeout"], start["MemorySize"]) == (60, 512)
    assert (collect["Timeout"], collect["MemorySize"]) == (900, 2048)
    assert (digest["Timeout"], digest["MemorySize"]) == (300, 512)


def _event_source(synth: Synth, folder: str) -> dict[str, object]:
    function_id, _ = synth.function(folder)
    (mapping,) = [
        m["Properties"]
        for m in synth.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    return mapping


def test_start_moderation_consumes_the_start_queue_in_capped_batches(dev: Synth) -> None:
    # Given start_moderation's event source
    mapping = _event_source(dev, "start_moderation")
    # Then it reads the start queue 10 at a time within 5 s, reports partial failures,
    # and caps concurrency from config (not reserved concurrency)
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [dev.output_ref("StartQueueUrl"), "Arn"]}
    assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]) == (10, 5)
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": dev.config.start_max_concurrency}


def test_collect_results_consumes_the_collect_queue_one_job_at_a_time(dev: Synth) -> None:
    # Given collect_results' event source
    mapping = _event_source(dev, "collect_results")
    # Then it reads the collect queue one message per invocation and reports partial failures
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [dev.output_ref("CollectQueueUrl"), "Arn"]}
    assert mapping["BatchSize"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
