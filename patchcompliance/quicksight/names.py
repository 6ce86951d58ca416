"""QuickSight logical IDs, output names and the action sets the principal is granted on each resource."""

from __future__ import annotations

# ---------------------------------------------------------------- logical IDs
QUICKSIGHT_ROLE = "QuickSightRole"
DATA_SOURCE = "QuickSightDataSource"
PATCH_DATASET = "PatchComplianceDataSet"
BY_TAG_DATASET = "PatchComplianceByTagDataSet"
PATCH_DATASET_REFRESH = "PatchComplianceDataSetRefresh"
BY_TAG_DATASET_REFRESH = "PatchComplianceByTagDataSetRefresh"
SLA_DATASET = "PatchSlaDataSet"
TREND_DATASET = "ComplianceTrendDataSet"
CVES_DATASET = "PatchCvesDataSet"
SLA_DATASET_REFRESH = "PatchSlaDataSetRefresh"
TREND_DATASET_REFRESH = "ComplianceTrendDataSetRefresh"
CVES_DATASET_REFRESH = "PatchCvesDataSetRefresh"
ANALYSIS = "PatchComplianceAnalysis"
DASHBOARD = "PatchComplianceDashboard"

# ---------------------------------------------------------------- outputs
DASHBOARD_URL_OUTPUT = "QuickSightDashboardUrl"
DASHBOARD_ARN_OUTPUT = "QuickSightDashboardArn"

# The Athena catalog of the Glue Data Catalog: the datasets read the views through it.
CATALOG = "AwsDataCatalog"

# ---------------------------------------------------------------- QuickSight permission sets (owner)
# Each set is one ResourcePermission entry: at most 20 actions (QuickSight API, ResourcePermission.Actions).
MAX_ACTIONS_PER_PERMISSION = 20
DATA_SOURCE_ACTIONS = (
    "quicksight:DescribeDataSource",
    "quicksight:DescribeDataSourcePermissions",
    "quicksight:PassDataSource",
    "quicksight:UpdateDataSource",
    "quicksight:DeleteDataSource",
    "quicksight:UpdateDataSourcePermissions",
)
DATASET_ACTIONS = (
    "quicksight:DescribeDataSet",
    "quicksight:DescribeDataSetPermissions",
    "quicksight:PassDataSet",
    "quicksight:DescribeIngestion",
    "quicksight:ListIngestions",
    "quicksight:UpdateDataSet",
    "quicksight:DeleteDataSet",
    "quicksight:CreateIngestion",
    "quicksight:CancelIngestion",
    "quicksight:UpdateDataSetPermissions",
    # Refresh schedules and refresh properties (incremental refresh), as the console grants a dataset owner.
    "quicksight:CreateRefreshSchedule",
    "quicksight:UpdateRefreshSchedule",
    "quicksight:DeleteRefreshSchedule",
    "quicksight:DescribeRefreshSchedule",
    "quicksight:ListRefreshSchedules",
    "quicksight:PutDataSetRefreshProperties",
    "quicksight:DescribeDataSetRefreshProperties",
    "quicksight:DeleteDataSetRefreshProperties",
)
ANALYSIS_ACTIONS = (
    "quicksight:RestoreAnalysis",
    "quicksight:UpdateAnalysisPermissions",
    "quicksight:DeleteAnalysis",
    "quicksight:DescribeAnalysisPermissions",
    "quicksight:QueryAnalysis",
    "quicksight:DescribeAnalysis",
    "quicksight:UpdateAnalysis",
)
# View actions (Describe/List/Query) plus owner actions.
DASHBOARD_ACTIONS = (
    "quicksight:DescribeDashboard",
    "quicksight:ListDashboardVersions",
    "quicksight:QueryDashboard",
    "quicksight:UpdateDashboardPermissions",
    "quicksight:UpdateDashboard",
    "quicksight:DeleteDashboard",
    "quicksight:DescribeDashboardPermissions",
    "quicksight:UpdateDashboardPublishedVersion",
)
