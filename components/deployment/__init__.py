"""Model deployment: the endpoint templates, the deploy CodePipeline and the Lambdas it runs
(resolve the approved model, check the endpoint config, test the staging endpoint). Entry
construct: ``Deployment``."""

from components.deployment.deployment import Deployment

__all__ = ["Deployment"]
