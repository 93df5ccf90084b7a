"""The monitoring capability's entry construct: the drift check, its alarms, what an alarm
does, and the environment's dashboard."""

from __future__ import annotations

from aws_cdk import Annotations
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from components.deployment.endpoint_stack import STAGES, endpoint_name
from components.monitoring.alarm_response import AlarmResponse
from components.monitoring.dashboard import MonitoringDashboard
from components.monitoring.drift_check import DriftCheck, metric_namespace
from components.monitoring.monitoring_alarms import MonitoringAlarms
from components.registry.model_registry import ModelRegistry
from components.shared.lambda_layer import PythonLayer
from components.shared.pipeline_reference import PipelineReference
from config import EnvironmentConfig
from pipeline_code.template import image_uris_for


class Monitoring(Construct):
    """Watches the instance endpoints the environment lists (``monitoring.stages``).

    Without a monitored endpoint (monitoring disabled, or only serverless endpoints listed)
    only the dashboard is created. ``check``, ``alarms`` and ``response`` are None then.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        bucket: s3.IBucket,
        key: kms.IKey,
        registry: ModelRegistry,
        topic: sns.ITopic,
        pipeline: PipelineReference,
        input_data_uri: str,
    ) -> None:
        super().__init__(scope, id_)
        names = {stage: endpoint_name(config.resource_prefix, stage) for stage in STAGES}
        monitored = {stage: names[stage] for stage in config.monitored_stages}
        for stage in config.unmonitored_stages:
            # Synth output, not an error: dev's defaults list prod, which is serverless there.
            Annotations.of(self).add_info(
                f"{config.name}: the {stage} endpoint is serverless, which cannot capture "
                "traffic, so it is not checked for drift (docs/monitoring.md); use "
                f"{stage}_endpoint.mode=instance to monitor it"
            )
        namespace = metric_namespace(config.project_name)
        self.check: DriftCheck | None = None
        self.alarms: MonitoringAlarms | None = None
        self.response: AlarmResponse | None = None
        if monitored:
            # One copy of the layer for both functions of the stack.
            shared_layer = PythonLayer(
                self,
                "SharedLayer",
                code_dir_name="shared",
                description="Logging, AWS clients and pipeline-run listing the functions share",
            ).layer
            self.check = DriftCheck(
                self,
                "DriftCheck",
                config=config,
                bucket=bucket,
                key=key,
                registry=registry,
                training_pipeline_name=pipeline.pipeline_name,
                endpoint_names=monitored,
                image_uri=image_uris_for(config.region)["processing"],
                topic=topic,
                shared_layer=shared_layer,
            )
            self.alarms = MonitoringAlarms(
                self, "Alarms", config=config, namespace=namespace, endpoint_names=monitored
            )
            self.response = AlarmResponse(
                self,
                "AlarmResponse",
                config=config,
                alarms=self.alarms.all,
                alarm_stages=self.alarms.by_name,
                bucket=bucket,
                key=key,
                topic=topic,
                pipeline=pipeline,
                input_data_uri=input_data_uri,
                shared_layer=shared_layer,
            )
        self.dashboard = MonitoringDashboard(
            self,
            "Dashboard",
            config=config,
            pipeline_name=pipeline.pipeline_name,
            endpoint_names=names,
            monitored=tuple(monitored),
            namespace=namespace,
            alarms=self.alarms.all if self.alarms else [],
        )
