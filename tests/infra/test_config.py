"""Configuration: defaults per environment, `-c` overrides, and one clear error per problem."""

from __future__ import annotations

import copy
import zoneinfo
from typing import Any

import pytest

from config import ConfigError, EnvironmentConfig, load_environments, overrides_of, validation


def _load(cdk_context: dict[str, Any], **overrides: Any) -> dict[str, EnvironmentConfig]:
    return {config.name: config for config in load_environments({**cdk_context, **overrides})}


def _errors(context: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_environments(context)
    return raised.value.problems


def test_seed_thresholds_and_defaults(environments: dict[str, EnvironmentConfig]) -> None:
    assert set(environments) == {"dev", "prod"}
    assert environments["dev"].metric_threshold == 0.8
    assert environments["prod"].metric_threshold == 0.9
    assert environments["dev"].schedule.cron == "cron(0 21 ? * TUE *)"
    assert environments["dev"].approval_status == "PendingManualApproval"
    assert environments["dev"].resource_prefix == "mlops-demo-dev"
    assert environments["prod"].termination_protection is True


def test_cli_overrides_are_typed_and_scoped_to_one_environment(cdk_context: dict[str, Any]) -> None:
    configs = _load(
        cdk_context,
        **{
            "prod.metric_threshold": "0.95",
            "prod.training_instance_count": "2",
            "dev.use_spot_training": "true",
            "dev.staging_endpoint.mode": "instance",
            "dev.model_approval": "automatic",
            "dev.account": "123456789012",
        },
    )
    assert configs["prod"].metric_threshold == 0.95
    assert configs["prod"].training_instance_count == 2
    assert configs["dev"].use_spot_training is True
    assert configs["dev"].staging_endpoint.mode == "instance"
    assert configs["dev"].approval_status == "Approved"
    assert configs["dev"].account == "123456789012"
    assert configs["dev"].metric_threshold == 0.8
    assert configs["prod"].account is None


def test_empty_cli_value_clears_an_optional_field(cdk_context: dict[str, Any]) -> None:
    configs = _load(cdk_context, **{"dev.notification_email": ""})
    assert configs["dev"].notification_email is None


def test_feature_flags_in_context_are_not_overrides(cdk_context: dict[str, Any]) -> None:
    configs = _load(cdk_context, **{"@aws-cdk/core:newStyleStackSynthesis": True})
    assert len(configs) == 2


def test_a_third_environment_is_one_entry(cdk_context: dict[str, Any]) -> None:
    context = copy.deepcopy(cdk_context)
    context["mlops"]["environments"]["staging"] = {"metric_threshold": 0.85}
    configs = _load(context)
    assert configs["staging"].metric_threshold == 0.85
    assert configs["staging"].stack_prefix == "Staging"


BAD_VALUES = [
    ("metric_threshold", "1.5", "metric_threshold", "less than or equal to 1"),
    ("metric_threshold", "-0.1", "metric_threshold", "greater than or equal to 0"),
    ("metric_threshold", "high", "metric_threshold", "valid number"),
    ("metric_threshold", "nan", "metric_threshold", "finite number"),
    ("metric_name", "rmse", "metric_name", "'f1', 'accuracy', 'precision', 'recall' or 'auc'"),
    ("model_approval", "auto", "model_approval", "'manual' or 'automatic'"),
    ("processing_instance_type", "m5.large", "processing_instance_type", "ml.<family>.<size>"),
    ("training_instance_type", "ml.m5", "training_instance_type", "ml.<family>.<size>"),
    ("training_instance_type", "ml.m5.hugeish", "training_instance_type", "ml.<family>.<size>"),
    ("training_instance_type", "ml.foo.large", "training_instance_type", "training instance"),
    ("training_instance_type", "ml.t2.medium", "training_instance_type", "training instance"),
    ("processing_instance_type", "ml.m5.1xlarge", "processing_instance_type", "processing"),
    (
        "prod_endpoint.instance_type",
        "ml.t3.medium",
        "prod_endpoint.instance_type",
        "hosting instance type",
    ),
    ("training_instance_count", "0", "training_instance_count", "greater than or equal to 1"),
    ("schedule.cron", "0 21 * * 2", "schedule.cron", "cron(minutes hours"),
    ("schedule.cron", "cron(0 21 * * TUE *)", "schedule.cron", "exactly one of day-of-month"),
    ("schedule.cron", "cron(0 21 ? * TUE)", "schedule.cron", "must have 6 fields"),
    ("schedule.cron", "cron(0 2x ? * TUE *)", "schedule.cron", "hours field"),
    ("schedule.cron", "cron(99 21 ? * TUE *)", "schedule.cron", "minutes field '99'"),
    ("schedule.cron", "cron(0 24 ? * TUE *)", "schedule.cron", "accepted: 0-23"),
    ("schedule.cron", "cron(0 21 32 * ? *)", "schedule.cron", "accepted: 1-31"),
    ("schedule.cron", "cron(0 21 ? 13 TUE *)", "schedule.cron", "accepted: 1-12 or JAN-DEC"),
    ("schedule.cron", "cron(0 21 ? * 8 *)", "schedule.cron", "accepted: 1-7 or SUN-SAT"),
    ("schedule.cron", "cron(0 21 ? * TUEWED *)", "schedule.cron", "day-of-week field"),
    ("schedule.cron", "cron(0 21 ? * TUE#6 *)", "schedule.cron", "<day>#<1-5>"),
    ("schedule.cron", "cron(0/0 21 ? * TUE *)", "schedule.cron", "increments"),
    ("schedule.cron", "cron(-,/ 21 ? * TUE *)", "schedule.cron", "minutes field"),
    ("schedule.cron", "cron(0 21 ? * TUE 1800)", "schedule.cron", "accepted: 1970-2199"),
    ("schedule.cron", "cron(\u00b2 21 ? * TUE *)", "schedule.cron", "minutes field"),
    ("schedule.cron", "cron(0/\u00b2 21 ? * TUE *)", "schedule.cron", "minutes field"),
    ("schedule.cron", "cron(0 21 ? * TUE  *)", "schedule.cron", "single spaces"),
    # EventBridge takes no increments in day-of-week (our own parser used to accept them).
    ("schedule.cron", "cron(0 21 ? * */2 *)", "schedule.cron", "no increments"),
    ("schedule.cron", "cron(0 21 ? * MON/2 *)", "schedule.cron", "day-of-week field 'MON/2'"),
    ("schedule.cron", "cron(0/75 * ? * MON-FRI *)", "schedule.cron", "increment above 59"),
    ("schedule.cron", "cron(0 */99 ? * * *)", "schedule.cron", "increment above 23"),
    ("schedule.cron", f"cron(0 21 ? * {','.join(['1'] * 200)} *)", "schedule.cron", "at most 256"),
    ("schedule.time_zone", "Mars/Olympus", "schedule.time_zone", "IANA time zone"),
    ("schedule.time_zone", "Factory", "schedule.time_zone", "IANA time zone"),
    ("schedule.time_zone", "localtime", "schedule.time_zone", "IANA time zone"),
    ("project_name", "", "project_name", "not a valid name"),
    ("project_name", "Churn_Model", "project_name", "lower-case letters"),
    ("project_name", "x" * 40, "project_name", "at most 34 characters"),
    ("region", "europe", "region", "AWS region code"),
    ("region", "mx-central-9", "region", "no SageMaker XGBoost/scikit-learn images"),
    ("account", "12345", "account", "12-digit"),
    ("notification_email", "not-an-email", "notification_email", "e-mail address"),
    ("notification_email", "a,b@example.com", "notification_email", "e-mail address"),
    ("notification_email", "<a>@example.com", "notification_email", "e-mail address"),
    ("notification_email", "a@b..com", "notification_email", "e-mail address"),
    ("notification_email", f"a@{'b' * 250}.com", "notification_email", "e-mail address"),
    ("notification_email", f"{'a' * 65}@example.com", "notification_email", "e-mail address"),
    ("input_data_prefix", "/data", "input_data_prefix", "ending in '/'"),
    ("input_data_prefix", "data/*/", "input_data_prefix", "no '*'"),
    ("input_data_prefix", "../data/", "input_data_prefix", "'..' folders"),
    ("input_data_prefix", "a/./b/", "input_data_prefix", "'..' folders"),
    ("input_data_prefix", "a/" * 129, "input_data_prefix", "at most 256 characters"),
    ("label_column", "a,b", "label_column", "without quotes, commas"),
    ("label_column", "a\nb", "label_column", "control characters"),
    ("label_column", "${Token[TOKEN.99]}", "label_column", "literal values only"),
    ("label_column", "{{resolve:ssm:/x}}", "label_column", "literal values only"),
    ("positive_class", "Yes,No", "positive_class", "a label value of 1-128 characters"),
    ("positive_class", "Ye\ts", "positive_class", "control characters"),
    ("positive_class", "x" * 129, "positive_class", "1-128 characters"),
    ("source.branch", "${Token[TOKEN.12]}", "source.branch", "literal values only"),
    ("source.branch", "-", "source.branch", "git branch name"),
    ("source.branch", "a..b", "source.branch", "git branch name"),
    ("source.branch", "a/", "source.branch", "git branch name"),
    ("source.branch", ".hidden", "source.branch", "git branch name"),
    ("source.branch", "x.lock", "source.branch", "git branch name"),
    ("source.branch", "a//b", "source.branch", "git branch name"),
    ("source.branch", "HEAD", "source.branch", "git branch name"),
    ("source.branch", "a b", "source.branch", "git branch name"),
    ("source.branch", "b" * 257, "source.branch", "git branch name"),
    ("project_name", "sthree", "project_name", "S3 reserves names starting with"),
    ("project_name", "amzn-s3-demo", "project_name", "S3 reserves names starting with"),
    ("region", "us-isof-south-1", "region", "isolated partition"),
    # SageMaker images exist there, the Powertools layer the functions use does not.
    ("region", "ca-west-1", "region", "no AWS-published Powertools for AWS Lambda layer"),
    ("region", "us-gov-west-1", "region", "no AWS-published Powertools for AWS Lambda layer"),
    ("staging_endpoint.mode", "gpu", "staging_endpoint.mode", "'serverless' or 'instance'"),
    (
        "staging_endpoint.serverless_memory_mb",
        "1000",
        "staging_endpoint.serverless_memory_mb",
        "1024",
    ),
    ("source.provider", "github", "source.provider", "'codecommit' or 'codeconnections'"),
    (
        "source.connection_arn",
        "arn:aws:codeconnections:eu-west-1:123456789012:connection/0e1e9c8b-4a5f-4d5e-9f1a-2b3c4d5e6f70",
        "source",
        "only apply to provider 'codeconnections'",
    ),
    (
        "source.provider",
        "codeconnections",
        "source",
        "needs build_repository, connection_arn, deploy_repository",
    ),
    ("staging_endpoint.colour", "blue", "staging_endpoint.colour", "unknown setting"),
    ("prod_endpoint.autoscaling_max_instances", "1", "prod_endpoint", "must be >= instance_count"),
    ("on_drift", "page", "on_drift", "'retrain' or 'notify'"),
    ("monitoring.stages", "dev", "monitoring.stages.0", "'staging' or 'prod'"),
    ("monitoring.stages", "prod,prod", "monitoring", "lists a stage twice"),
    ("monitoring.interval_hours", "48", "monitoring.interval_hours", "less than or equal to 24"),
    ("monitoring.drift_threshold", "0", "monitoring.drift_threshold", "greater than 0"),
    ("monitoring.quality_threshold", "1.5", "monitoring.quality_threshold", "less than or equal"),
    ("monitoring.max_records", "50", "monitoring.max_records", "greater than or equal to 100"),
    ("monitoring.min_records", "200000", "monitoring", "must be >= min_records"),
    ("monitoring.drift_datapoints_to_alarm", "3", "monitoring", "<= drift_evaluation_periods"),
    # 8 daily checks: CloudWatch alarms look back at most seven days.
    ("monitoring.quality_evaluation_periods", "8", "monitoring", "at most 168 hours (7 days)"),
    ("monitoring.lookback_hours", "12", "monitoring", "must be >= interval_hours"),
    ("monitoring.instance_type", "ml.m5.tiny", "monitoring.instance_type", "ml.m5.large"),
]


@pytest.mark.parametrize(("field", "value", "reported_field", "accepted"), BAD_VALUES)
def test_bad_value_names_environment_field_value_and_accepted(
    cdk_context: dict[str, Any], field: str, value: str, reported_field: str, accepted: str
) -> None:
    problems = _errors({**cdk_context, f"prod.{field}": value})
    assert len(problems) == 1, problems
    (problem,) = problems
    assert problem.startswith(f"[prod] {reported_field}:"), problem
    assert accepted in problem
    if value and "provider" not in field and "connection_arn" not in field:
        assert value[:20] in problem or repr(value)[1:21] in problem


def test_unknown_environment_in_override(cdk_context: dict[str, Any]) -> None:
    (problem,) = _errors({**cdk_context, "staging.metric_threshold": "0.9"})
    assert "unknown environment 'staging'" in problem
    assert "accepted: dev, prod" in problem


def test_every_problem_is_reported_at_once(cdk_context: dict[str, Any]) -> None:
    problems = _errors(
        {
            **cdk_context,
            "dev.metric_threshold": "2",
            "prod.model_approval": "maybe",
            "prod.region": "x",
        }
    )
    assert [p.split(":")[0] for p in problems] == [
        "[dev] metric_threshold",
        "[prod] region",
        "[prod] model_approval",
    ]


def test_missing_or_malformed_root(cdk_context: dict[str, Any]) -> None:
    assert "'mlops' is missing" in _errors({})[0]
    assert "at least one environment" in _errors({"mlops": {"defaults": {}, "environments": {}}})[0]
    assert "unknown key(s) envs" in _errors({"mlops": {"envs": {}, "environments": {"dev": {}}}})[0]


def test_required_field_missing(cdk_context: dict[str, Any]) -> None:
    context = copy.deepcopy(cdk_context)
    del context["mlops"]["defaults"]["region"]
    problems = _errors(context)
    assert "[dev] region: Field required" in problems
    assert "[prod] region: Field required" in problems


def test_long_names_respect_sagemaker_63_character_limit() -> None:
    config = EnvironmentConfig(name="dev", project_name="p" * 35, region="eu-west-1")
    assert len(f"{config.resource_prefix}-staging-endpoint-config") == 63
    with pytest.raises(ValueError, match="too long"):
        EnvironmentConfig(name="dev", project_name="p" * 36, region="eu-west-1")


def test_artifact_bucket_name_respects_s3_63_character_limit() -> None:
    config = EnvironmentConfig(name="prod", project_name="p" * 30, region="ap-southeast-4")
    assert len(f"{config.resource_prefix}-123456789012-{config.region}") == 63
    with pytest.raises(ValueError, match=r"<account>-ap-southeast-4' would have 64 characters"):
        EnvironmentConfig(name="prod", project_name="p" * 31, region="ap-southeast-4")


@pytest.mark.parametrize("field", ["metric_threshold", "training_instance_count"])
def test_booleans_are_not_numbers(cdk_context: dict[str, Any], field: str) -> None:
    context = copy.deepcopy(cdk_context)
    context["mlops"]["environments"]["dev"][field] = True
    (problem,) = _errors(context)
    assert problem.startswith(f"[dev] {field}: True is a boolean; a number is expected")


@pytest.mark.parametrize(
    "cron",
    [
        "cron(0 21 ? * TUE *)",
        "cron(0/15 * ? * MON-FRI *)",
        "cron(*/5 8-18 ? * 2-6 2026-2030)",
        "cron(0 0 L * ? *)",
        "cron(0 0 LW * ? *)",
        "cron(0 0 15W * ? *)",
        "cron(0 0 ? * 6L *)",
        "cron(0 0 ? * MON#1 *)",
        "cron(0 9 1,15 JAN-MAR ? *)",
        "cron(30 22 ? * FRI-MON *)",
    ],
)
def test_valid_scheduler_cron_expressions_pass(cdk_context: dict[str, Any], cron: str) -> None:
    assert _load(cdk_context, **{"prod.schedule.cron": cron})["prod"].schedule.cron == cron


@pytest.mark.parametrize("branch", ["main", "release/1.2", "feature+x", "release@1", "user/a-b_c"])
def test_valid_git_branch_names_pass(cdk_context: dict[str, Any], branch: str) -> None:
    assert _load(cdk_context, **{"dev.source.branch": branch})["dev"].source.branch == branch


@pytest.mark.parametrize(
    "email", ["ml-team@example.com", "first.last+mlops@sub.example.co.uk", "o'brien@example.ie"]
)
def test_valid_email_addresses_pass(cdk_context: dict[str, Any], email: str) -> None:
    configs = _load(cdk_context, **{"dev.notification_email": email})
    assert configs["dev"].notification_email == email


def test_time_zones_come_from_the_pinned_tzdata_not_the_host(
    cdk_context: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A host without a time zone database (Windows, slim containers) accepts the same names.
    validation._time_zones.cache_clear()
    monkeypatch.setattr(zoneinfo, "available_timezones", set)
    monkeypatch.setattr(zoneinfo, "ZoneInfo", None)
    try:
        configs = _load(cdk_context, **{"dev.schedule.time_zone": "Europe/Paris"})
        assert configs["dev"].schedule.time_zone == "Europe/Paris"
        assert "Factory" not in validation._time_zones()
    finally:
        validation._time_zones.cache_clear()


def test_serverless_memory_from_the_command_line_is_a_number(cdk_context: dict[str, Any]) -> None:
    configs = _load(cdk_context, **{"dev.staging_endpoint.serverless_memory_mb": "4096"})
    assert configs["dev"].staging_endpoint.serverless_memory_mb == 4096


def test_an_object_override_merges_into_the_settings_it_overrides(
    cdk_context: dict[str, Any],
) -> None:
    configs = _load(cdk_context, **{"dev.staging_endpoint": '{"serverless_memory_mb": 4096}'})
    staging = configs["dev"].staging_endpoint
    assert (staging.mode, staging.serverless_memory_mb) == ("serverless", 4096)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("Dev.metric_threshold", "unknown environment 'Dev'"),
        ("dev.metric-threshold", "[dev] metric-threshold: unknown setting"),
        ("dev.name", "cannot be overridden"),
    ],
)
def test_override_keys_are_never_silently_ignored(
    cdk_context: dict[str, Any], key: str, expected: str
) -> None:
    (problem,) = _errors({**cdk_context, key: "0.5"})
    assert expected in problem


@pytest.mark.parametrize("env_name", ["Dev", " dev", "dev\n", "qa-1", "x" * 11])
def test_environment_keys_are_checked_as_written(
    cdk_context: dict[str, Any], env_name: str
) -> None:
    context = copy.deepcopy(cdk_context)
    context["mlops"]["environments"][env_name] = {}
    (problem,) = _errors(context)
    assert f"{env_name!r} is not a valid environment name" in problem


def test_an_environment_cannot_rename_itself(cdk_context: dict[str, Any]) -> None:
    context = copy.deepcopy(cdk_context)
    context["mlops"]["environments"]["dev"]["name"] = "prod"
    (problem,) = _errors(context)
    assert problem.startswith("[dev] name: an environment is named by its key")


CONNECTION = (
    "arn:{partition}:codeconnections:{region}:{account}:connection/"
    "0e1e9c8b-4a5f-4d5e-9f1a-2b3c4d5e6f70"
)


def _connection_context(cdk_context: dict[str, Any], arn: str) -> dict[str, Any]:
    return {
        **cdk_context,
        "dev.account": "123456789012",
        "dev.source.provider": "codeconnections",
        "dev.source.connection_arn": arn,
        "dev.source.build_repository": "org/model-build",
        "dev.source.deploy_repository": "group/subgroup/model-deploy",
    }


def test_a_connection_of_this_environment_is_accepted(cdk_context: dict[str, Any]) -> None:
    arn = CONNECTION.format(partition="aws", region="eu-west-1", account="123456789012")
    source = _load(_connection_context(cdk_context, arn))["dev"].source
    assert (source.connection_arn, source.deploy_repository) == (arn, "group/subgroup/model-deploy")


@pytest.mark.parametrize(
    ("partition", "region", "account", "reported"),
    [
        ("aws", "us-east-1", "123456789012", "region 'us-east-1'"),
        ("aws", "eu-west-1", "111111111111", "account '111111111111'"),
        ("aws-cn", "eu-west-1", "123456789012", "partition 'aws-cn'"),
    ],
)
def test_a_connection_elsewhere_is_rejected(
    cdk_context: dict[str, Any], partition: str, region: str, account: str, reported: str
) -> None:
    arn = CONNECTION.format(partition=partition, region=region, account=account)
    (problem,) = _errors(_connection_context(cdk_context, arn))
    assert problem.startswith("[dev] (environment): source.connection_arn"), problem
    assert reported in problem
    assert "this environment's partition 'aws', region 'eu-west-1', account" in problem


def test_overrides_of_one_environment_are_listed_as_text(cdk_context: dict[str, Any]) -> None:
    context = {
        **cdk_context,
        "dev.metric_threshold": "0.85",
        "dev.staging_endpoint.serverless_memory_mb": 4096,
        "prod.metric_threshold": "0.95",
        "@aws-cdk/core:newStyleStackSynthesis": True,
    }
    assert overrides_of(context, "dev") == [
        ("dev.metric_threshold", "0.85"),
        ("dev.staging_endpoint.serverless_memory_mb", "4096"),
    ]
    assert overrides_of(cdk_context, "dev") == []
    assert overrides_of(context, "dev", fields=["staging_endpoint"]) == [
        ("dev.staging_endpoint.serverless_memory_mb", "4096")
    ]


def test_top_level_problems_are_reported_together_in_order() -> None:
    assert _errors({"mlops": {"envs": {}, "defaults": [], "environments": ["dev"]}}) == [
        "mlops: unknown key(s) envs; accepted: defaults, environments",
        "mlops.defaults must be an object",
        "mlops.environments must be an object with at least one environment",
    ]


def test_defaults_are_optional(
    cdk_context: dict[str, Any], environments: dict[str, EnvironmentConfig]
) -> None:
    context = copy.deepcopy(cdk_context)
    defaults = context["mlops"].pop("defaults")
    for name, settings in context["mlops"]["environments"].items():
        context["mlops"]["environments"][name] = {**defaults, **settings}
    assert _load(context) == environments


def test_an_environment_that_is_not_an_object(cdk_context: dict[str, Any]) -> None:
    context = copy.deepcopy(cdk_context)
    context["mlops"]["environments"]["qa"] = ["metric_threshold", 0.9]
    assert _errors(context) == ["[qa] must be an object of settings"]


def test_a_name_in_defaults_is_reported_for_every_environment(cdk_context: dict[str, Any]) -> None:
    context = copy.deepcopy(cdk_context)
    context["mlops"]["defaults"]["name"] = "dev"
    problems = _errors(context)
    assert [problem.split(":")[0] for problem in problems] == ["[dev] name", "[prod] name"]


@pytest.mark.parametrize(("env_name", "settings"), [("Qa", {}), ("qa", "none")])
def test_overrides_of_an_invalid_environment_add_no_problem(
    cdk_context: dict[str, Any], env_name: str, settings: Any
) -> None:
    context = copy.deepcopy(cdk_context)
    context["mlops"]["environments"][env_name] = settings
    (problem,) = _errors({**context, f"{env_name}.metric_threshold": "2"})
    assert problem.startswith((f"mlops.environments: {env_name!r}", f"[{env_name}] must be"))


def test_an_override_below_a_plain_setting_is_refused(cdk_context: dict[str, Any]) -> None:
    assert _errors({**cdk_context, "dev.metric_threshold.value": "0.5"}) == [
        "-c dev.metric_threshold.value: 'metric_threshold' is not a group of settings"
    ]


def test_an_override_creates_the_groups_on_its_path(cdk_context: dict[str, Any]) -> None:
    # Overrides apply in order: the group is cleared, then built again from nothing.
    configs = _load(
        cdk_context,
        **{
            "dev.staging_endpoint.serverless_memory_mb": "4096",
            "dev.staging_endpoint": "null",
            "dev.staging_endpoint.mode": "instance",
        },
    )
    staging = configs["dev"].staging_endpoint
    assert staging == type(staging)(mode="instance")
    assert staging.serverless_memory_mb != 4096


def test_problems_are_ordered_environments_then_overrides_then_values(
    cdk_context: dict[str, Any],
) -> None:
    context = copy.deepcopy(cdk_context)
    context["mlops"]["environments"]["Qa"] = {}
    problems = _errors(
        {
            **context,
            "dev.metric_threshold": "2",
            "staging.metric_threshold": "0.9",
            "prod.name": "x",
        }
    )
    assert [problem[:40] for problem in problems] == [
        "mlops.environments: 'Qa' is not a valid ",
        "-c staging.metric_threshold: unknown env",
        "-c prod.name: the environment name is it",
        "[dev] metric_threshold: Input should be ",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("id,rownames", ("id", "rownames")), ('["id", "Unnamed: 0"]', ("id", "Unnamed: 0")), ("", ())],
)
def test_exclude_columns_is_a_list_or_comma_separated_text(
    cdk_context: dict[str, Any], value: str, expected: tuple[str, ...]
) -> None:
    assert _load(cdk_context, **{"dev.exclude_columns": value})["dev"].exclude_columns == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (
            'id,"rownames"',
            "[prod] exclude_columns.1: '\"rownames\"' is not valid; accepted: CSV column names",
        ),
        ('["id", 7]', "[prod] exclude_columns.1: Input should be a valid string (got 7)"),
    ],
)
def test_a_bad_excluded_column_is_named_by_its_position(
    cdk_context: dict[str, Any], value: str, problem: str
) -> None:
    (reported,) = _errors({**cdk_context, "prod.exclude_columns": value})
    assert reported.startswith(problem), reported


def test_gate_settings_and_hyperparameters_have_defaults_and_overrides(
    cdk_context: dict[str, Any],
) -> None:
    configs = _load(
        cdk_context,
        **{
            "prod.min_positives": "12",
            "prod.champion_margin": "0",
            "prod.hyperparameters": '{"max_depth": 4, "scale_pos_weight": "3.5"}',
        },
    )
    dev, prod = configs["dev"], configs["prod"]
    assert (dev.min_positives, dev.min_negatives, dev.champion_margin) == (5, 5, 0.01)
    assert dev.hyperparameters == {}
    assert (prod.min_positives, prod.champion_margin) == (12, 0.0)
    assert prod.hyperparameters == {"max_depth": 4, "scale_pos_weight": "3.5"}


@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        # The training job's own validation, so synth refuses what the job would refuse.
        ('{"objective": "reg:squarederror"}', ["'objective'", "binary:logistic"]),
        ('{"max_depht": 4}', ["unknown hyperparameter 'max_depht'", "did you mean 'max_depth'"]),
        ('{"eta": 2}', ["'eta'", "[0, 1]"]),
        # The file spells it eta: a second spelling would reach the job as two settings.
        ('{"learning_rate": 0.2}', ["'eta' and 'learning_rate' are the same hyperparameter"]),
        ('{"max_depth": true}', ["hyperparameters.max_depth must be a number or a string"]),
        ('{"max_depth": [4]}', ["hyperparameters.max_depth must be a number or a string"]),
    ],
)
def test_a_bad_hyperparameter_is_refused_at_synth_naming_it(
    cdk_context: dict[str, Any], value: str, fragments: list[str]
) -> None:
    (problem,) = _errors({**cdk_context, "prod.hyperparameters": value})
    assert problem.startswith("[prod] hyperparameters"), problem
    for fragment in fragments:
        assert fragment in problem, problem


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        ("min_positives", "0", "greater than or equal to 1"),
        ("min_negatives", "2.5", "valid integer"),
        ("champion_margin", "-0.1", "greater than or equal to 0"),
        ("champion_margin", "nan", "finite number"),
    ],
)
def test_bad_gate_settings_name_the_field(
    cdk_context: dict[str, Any], field: str, value: str, accepted: str
) -> None:
    (problem,) = _errors({**cdk_context, f"dev.{field}": value})
    assert problem.startswith(f"[dev] {field}:"), problem
    assert accepted in problem, problem


def test_monitored_stages_are_the_listed_instance_endpoints(cdk_context: dict[str, Any]) -> None:
    configs = _load(cdk_context)
    # cdk.json: prod's endpoints are instances, dev's serverless (no data capture).
    assert configs["prod"].monitored_stages == ("prod",)
    assert configs["dev"].monitored_stages == ()
    assert configs["dev"].unmonitored_stages == ("prod",)
    assert configs["prod"].quality_threshold == configs["prod"].metric_threshold == 0.9
    both = _load(cdk_context, **{"prod.monitoring.stages": "staging,prod"})["prod"]
    assert both.monitored_stages == ("staging", "prod")
    off = _load(cdk_context, **{"prod.monitoring.enabled": "false"})["prod"]
    assert (off.monitored_stages, off.unmonitored_stages) == ((), ())
    set_bar = _load(cdk_context, **{"prod.monitoring.quality_threshold": "0.75"})["prod"]
    assert set_bar.quality_threshold == 0.75
    assert set_bar.on_drift == "notify"


# Private networking ----------------------------------------------------------------------------

SUBNET_A, SUBNET_B = "subnet-0123456789abcdef0", "subnet-89abcdef"
GROUP = "sg-0123456789abcdef0"


def test_network_is_unset_by_default(environments: dict[str, EnvironmentConfig]) -> None:
    assert environments["dev"].network is None
    assert environments["prod"].network is None


def test_network_as_a_json_object_or_comma_separated_text(cdk_context: dict[str, Any]) -> None:
    as_json = _load(
        cdk_context,
        **{
            "prod.network": f'{{"subnet_ids": ["{SUBNET_A}", "{SUBNET_B}"], '
            f'"security_group_ids": ["{GROUP}"], "vpc_id": "vpc-01234567"}}'
        },
    )["prod"].network
    as_text = _load(
        cdk_context,
        **{
            "prod.network.subnet_ids": f" {SUBNET_A}, {SUBNET_B},",
            "prod.network.security_group_ids": GROUP,
            "prod.network.vpc_id": "vpc-01234567",
        },
    )["prod"].network
    assert as_json is not None
    assert as_json == as_text
    assert as_json.subnet_ids == (SUBNET_A, SUBNET_B)
    assert as_json.security_group_ids == (GROUP,)
    assert as_json.vpc_id == "vpc-01234567"
    assert as_json.sagemaker_vpc_config() == {
        "Subnets": [SUBNET_A, SUBNET_B],
        "SecurityGroupIds": [GROUP],
    }


def test_a_blank_network_is_no_network(cdk_context: dict[str, Any]) -> None:
    assert _load(cdk_context, **{"prod.network": ""})["prod"].network is None


@pytest.mark.parametrize(
    ("subnets", "groups", "problem"),
    [
        (
            f"{SUBNET_A},subnet-0123456789ABCDEF0",
            GROUP,
            "[prod] network.subnet_ids.1: 'subnet-0123456789ABCDEF0' is not valid; accepted: "
            "a subnet ID: 'subnet-' and 8 or 17 lower-case hex digits",
        ),
        (
            "subnet-0123456",
            GROUP,
            "[prod] network.subnet_ids.0: 'subnet-0123456' is not valid; accepted: a subnet ID",
        ),
        (
            SUBNET_A,
            "sg-0123456789abcdef",
            "[prod] network.security_group_ids.0: 'sg-0123456789abcdef' is not valid; accepted: "
            "a security group ID: 'sg-' and 8 or 17 lower-case hex digits",
        ),
        (
            SUBNET_A,
            SUBNET_B,
            f"[prod] network.security_group_ids.0: '{SUBNET_B}' is not valid; accepted: a "
            "security group ID",
        ),
        (
            f"{SUBNET_A},{SUBNET_B},{SUBNET_A}",
            GROUP,
            f"[prod] network.subnet_ids: {SUBNET_A} listed more than once; list each ID once",
        ),
        (
            SUBNET_A,
            f"{GROUP},{GROUP}",
            f"[prod] network.security_group_ids: {GROUP} listed more than once",
        ),
        (
            "",
            GROUP,
            "[prod] network.subnet_ids: 0 subnet IDs given; accepted: 1-16 subnet IDs, as a "
            "list or comma-separated text",
        ),
        (
            SUBNET_A,
            ",".join(f"sg-{n:08x}" for n in range(6)),
            "[prod] network.security_group_ids: 6 security group IDs given; accepted: 1-5 "
            "security group IDs",
        ),
    ],
)
def test_bad_network_ids_are_named_by_field_and_position(
    cdk_context: dict[str, Any], subnets: str, groups: str, problem: str
) -> None:
    (reported,) = _errors(
        {
            **cdk_context,
            "prod.network.subnet_ids": subnets,
            "prod.network.security_group_ids": groups,
        }
    )
    assert reported.startswith(problem), reported


def test_network_needs_subnets_and_security_groups(cdk_context: dict[str, Any]) -> None:
    problems = _errors({**cdk_context, "prod.network.vpc_id": "vpc-0123456"})
    assert problems == [
        "[prod] network.subnet_ids: Field required",
        "[prod] network.security_group_ids: Field required",
        "[prod] network.vpc_id: 'vpc-0123456' is not valid; accepted: a VPC ID: 'vpc-' and 8 "
        "or 17 lower-case hex digits, e.g. vpc-0123456789abcdef0",
    ]


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({}, "staging_endpoint.mode and prod_endpoint.mode are"),
        ({"dev.staging_endpoint.mode": "instance"}, "prod_endpoint.mode is"),
        ({"dev.prod_endpoint.mode": "instance"}, "staging_endpoint.mode is"),
    ],
)
def test_serverless_endpoints_cannot_run_in_the_vpc(
    cdk_context: dict[str, Any], overrides: dict[str, str], fields: str
) -> None:
    # dev's endpoints are serverless in cdk.json.
    (problem,) = _errors(
        {
            **cdk_context,
            "dev.network.subnet_ids": SUBNET_A,
            "dev.network.security_group_ids": GROUP,
            **overrides,
        }
    )
    assert problem == (
        f"[dev] (environment): {fields} 'serverless', but network is set: SageMaker serverless "
        "endpoints cannot run in a VPC; set the mode to 'instance' (with an instance_type) or "
        "remove network"
    )


def test_endpoint_accounts_default_to_the_build_account(cdk_context: dict[str, Any]) -> None:
    dev = _load(cdk_context, **{"dev.account": "111111111111"})["dev"]
    assert (dev.staging_endpoint.account, dev.remote_stages) == (None, ())
    same = _load(
        cdk_context,
        **{"dev.account": "111111111111", "dev.prod_endpoint.account": "111111111111"},
    )["dev"]
    # Naming the build account itself is the single-account layout.
    assert same.remote_stages == ()
    other = _load(
        cdk_context,
        **{"dev.account": "111111111111", "dev.prod_endpoint.account": "333333333333"},
    )["dev"]
    assert (other.remote_stages, other.endpoint_account("prod")) == (("prod",), "333333333333")


def test_an_endpoint_account_needs_the_build_account(cdk_context: dict[str, Any]) -> None:
    errors = _errors({**cdk_context, "dev.staging_endpoint.account": "222222222222"})
    assert len(errors) == 1
    assert errors[0].startswith("[dev] ")
    assert "staging_endpoint.account is '222222222222', so account (the build account" in errors[0]
    assert "-c dev.account=<id>" in errors[0]


@pytest.mark.parametrize("value", ["12345", "1234567890123", "abcdefghijkl", " 222222222222x"])
def test_endpoint_account_ids_are_12_digits(cdk_context: dict[str, Any], value: str) -> None:
    errors = _errors(
        {**cdk_context, "dev.account": "111111111111", "prod.prod_endpoint.account": value}
    )
    assert len(errors) == 1
    assert errors[0].startswith("[prod] prod_endpoint.account: ")
    assert "a 12-digit AWS account id" in errors[0]
