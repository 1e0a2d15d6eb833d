"""CDK entry point: one stack, configured from the `hybrid-routing` context in cdk.json."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.config import StackConfig
from stacks.hybrid_routing_stack import HybridRoutingStack

app = cdk.App()
config = StackConfig.from_context(app.node)
HybridRoutingStack(app, config.stack_name, config=config)
# cdk-nag 3 is a CDK policy-validation plugin (no longer an Aspect): any unacknowledged
# finding, error or warning, interrupts synthesis with a report.
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
app.synth()
