#!/usr/bin/env python3
"""CDK entry point: configuration from context → the modlake stack → cdk-nag → synth."""

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from stacks.config import PipelineConfig
from stacks.pipeline_stack import PipelineStack

app = App()
config = PipelineConfig.from_context(app.node)
PipelineStack(
    app,
    f"modlake-{config.stage}",
    config=config,
    env=Environment(account=config.account, region=config.region),
)
Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
