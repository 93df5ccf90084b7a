"""An `IPipeline` for the L1 pipeline, so L2 integrations (e.g. Scheduler targets) accept it."""

from __future__ import annotations

import jsii
from aws_cdk import Resource, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk.interfaces import aws_sagemaker as sagemaker_refs
from constructs import Construct


@jsii.implements(sagemaker.IPipeline)
class PipelineReference(Resource):
    """aws-cdk-lib has no L2 SageMaker Pipeline and `CfnPipeline` is not an `IPipeline`."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        pipeline_name: str,
        cfn_pipeline: sagemaker.CfnPipeline,
    ) -> None:
        super().__init__(scope, id_)
        self._pipeline_name = pipeline_name
        self._pipeline_arn = Stack.of(self).format_arn(
            service="sagemaker", resource="pipeline", resource_name=pipeline_name
        )
        # Whoever uses the reference must wait for the pipeline to exist.
        self.node.add_dependency(cfn_pipeline)

    @property
    def pipeline_name(self) -> str:
        return self._pipeline_name

    @property
    def pipeline_arn(self) -> str:
        return self._pipeline_arn

    @property
    def pipeline_ref(self) -> sagemaker_refs.PipelineReference:
        return sagemaker_refs.PipelineReference(pipeline_name=self._pipeline_name)

    def grant_start_pipeline_execution(self, grantee: iam.IGrantable) -> iam.Grant:
        """Start executions of this pipeline, and nothing else."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["sagemaker:StartPipelineExecution"],
            resource_arns=[self._pipeline_arn],
        )
