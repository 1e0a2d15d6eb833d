"""The Hybrid Routing stack: one construct per capability, composed; the stack owns tags, outputs and cdk-nag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Stack, Tags
from constructs import Construct

from functions.adapters.dynamodb.schema import HEALTH
from stacks.config import StackConfig
from stacks.constructs.admin_api import AdminApi
from stacks.constructs.alarms import RunbookAlarms
from stacks.constructs.api import RouterApi
from stacks.constructs.automation import Automation
from stacks.constructs.dashboards import Dashboards
from stacks.constructs.dependencies_layer import DependenciesLayer
from stacks.constructs.health_checker import HealthChecker
from stacks.constructs.lambda_factory import LambdaFactory, functions_code
from stacks.constructs.providers import ProviderAccess
from stacks.constructs.router import Router
from stacks.constructs.tables import Tables
from stacks.constructs.waf import ApiFirewall
from stacks.constructs.workflows import Workflows
from stacks.nag_findings import acknowledge
from stacks.outputs import add_outputs

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO_ROOT / "functions" / "requirements.txt"
STATE_MACHINES = REPO_ROOT / "statemachines"


class HybridRoutingStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description="Hybrid Routing: serverless AI-request router", **kwargs)
        Tags.of(self).add("project", "hybrid-routing")
        removal = config.cdk_removal_policy
        self.tables = Tables(self, "Tables", config=config)
        layer = DependenciesLayer(self, "Dependencies", requirements=REQUIREMENTS, removal_policy=removal).layer
        self.providers = ProviderAccess(self, "Providers", config=config, removal_policy=removal)
        factory = LambdaFactory(
            code=functions_code(REPO_ROOT), layers=[layer], log_retention=config.log_retention, removal_policy=removal
        )
        tables, providers = self.tables, self.providers
        self.router = Router(self, "Router", factory=factory, tables=tables, providers=providers, config=config)
        self.health_checker = HealthChecker(
            self, "HealthChecker", factory=factory, health_table=tables.table(HEALTH), providers=providers
        )
        self.api = RouterApi(self, "RouterApi", handler=self.router.alias, config=config)
        self.firewall = ApiFirewall(self, "Firewall", rest_api=self.api.rest_api)
        self.admin = AdminApi(
            self,
            "Admin",
            factory=factory,
            rest_api=self.api.rest_api,
            tables=tables,
            providers=providers,
            metrics_readers=[self.router.function],
            config=config,
        )
        self.workflows = Workflows(
            self, "Workflows", factory=factory, tables=tables, definitions=STATE_MACHINES, config=config
        )
        machines = self.workflows.state_machines
        # Failover alarms and unhealthy events start failovers; a schedule starts failbacks after recovery.
        self.automation = Automation(
            self, "Automation", factory=factory, tables=tables, state_machines=machines, config=config
        )
        self.admin.allow_rollouts(machines)  # operators start, follow, abort and approve rollouts
        self.tables.audit_trail.restrict_key()  # every appender and the verifier granted: nobody else MACs
        self.alarms = RunbookAlarms(self, "Alarms", config=config, state_machines=machines)
        self.dashboards = Dashboards(
            self,
            "Dashboards",
            config=config,
            alarms=self.alarms,
            router_logs=self.router.function.log_group,
            health_check_logs=self.health_checker.function.log_group,
            api=self.api,
            state_machines=machines,
        )
        add_outputs(self)
        acknowledge(self)
