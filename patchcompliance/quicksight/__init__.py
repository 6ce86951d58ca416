"""QuickSight: Athena data source, datasets, daily SPICE refresh, analysis and published dashboard.

Everything sits behind the condition QuickSightEnabled (a principal name is given and the region has the
QuickSight resource types), so a stack deployed without a QuickSight principal has no QuickSight resource.
The data source queries Athena as its own role (`role.py`); the principal owns every QuickSight resource.

Modules: `names` (logical IDs, outputs, action sets), `parameters` (parameters, conditions, principal),
`role`, `datasets` (data source, datasets, refresh schedules), `visuals` and `controls` (generic Definition
builders: visuals; filters, controls, layouts), `trends` (sheet "Trends and SLA"), `dashboard` (the other
sheets, calculated fields, analysis, dashboard, outputs).
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import AWSObject, Output, Parameter, Template
from troposphere import quicksight as qs
from troposphere.athena import WorkGroup
from troposphere.glue import Database
from troposphere.iam import Role
from troposphere.s3 import Bucket

from ..conditions import HAS_KMS, Cond
from ..parameters import Spec, add_parameters
from . import dashboard, datasets
from .parameters import CONDITIONS, ENABLED, SPECS
from .role import quicksight_role


@dataclass(frozen=True)
class QuickSightInputs:
    """What the QuickSight resources use from the rest of the central template; every field is required."""

    workgroup: WorkGroup  # the data source queries in it
    database: Database  # the Glue database of the views
    athena_bucket: Bucket  # query results (under athena.RESULTS_PREFIX)
    config_bucket: Bucket  # Config deliveries the views read
    datasync_bucket: Bucket  # SSM inventory the views read
    kms_key: Parameter  # KmsKeyArn: the buckets' key when HasKmsKey holds
    views: AWSObject  # the resource that creates the Athena views; the datasets wait for it


@dataclass(frozen=True)
class QuickSight:
    """What add_quicksight added to the template."""

    specs: tuple[Spec, ...]  # the QuickSight parameters, for the console interface
    parameters: dict[str, Parameter]  # by name
    conditions: tuple[Cond, ...]  # every condition the resources and outputs use
    condition: Cond  # QuickSightEnabled: on every resource and output but the refresh schedules
    role: Role
    data_source: qs.DataSource
    datasets: tuple[qs.DataSet, ...]
    refresh_schedules: tuple[qs.RefreshSchedule, ...]
    analysis: qs.Analysis
    dashboard: qs.Dashboard
    outputs: tuple[Output, ...]

    @property
    def resources(self) -> tuple[AWSObject, ...]:
        """Every resource, in the order they were added."""
        return (
            self.role,
            self.data_source,
            *self.datasets,
            *self.refresh_schedules,
            self.analysis,
            self.dashboard,
        )


def add_quicksight(template: Template, inputs: QuickSightInputs) -> QuickSight:
    """Add the QuickSight parameters, conditions, role, data source, datasets, refresh schedules, analysis,
    dashboard and outputs to `template`. The template must have the KmsKeyArn parameter (`inputs.kms_key`)."""
    params = add_parameters(template, SPECS)
    conditions = (HAS_KMS, *CONDITIONS)
    for condition in conditions:
        condition.use(template)
    role = template.add_resource(quicksight_role(inputs))
    data_source = datasets.add_data_source(template, inputs.workgroup, role)
    data_sets = datasets.add_datasets(template, data_source, inputs.database, inputs.views)
    refresh_schedules = datasets.add_refresh_schedules(template)
    analysis, board = dashboard.add_analysis_and_dashboard(template, data_sets)
    return QuickSight(
        specs=SPECS,
        parameters=params,
        conditions=conditions,
        condition=ENABLED,
        role=role,
        data_source=data_source,
        datasets=data_sets,
        refresh_schedules=refresh_schedules,
        analysis=analysis,
        dashboard=board,
        outputs=dashboard.add_outputs(template, board),
    )
