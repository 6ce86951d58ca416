"""QuickSightRole: the role the Athena data source runs its queries as (AthenaParameters.RoleArn).

Assumable only by quicksight.amazonaws.com, with the trust policy the QuickSight user guide gives for such a role
(no condition keys; docs/DESIGN.md has the page). It may run and read queries in the project's workgroup, read
the catalog metadata, the Glue database and its tables/views, read the Config and DataSync data behind the views,
and write query results; with a customer key (HasKmsKey), use that key through S3 only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import awacs.athena
import awacs.glue
import awacs.s3 as s3
from awacs.aws import Allow, Statement
from troposphere import iam

from .. import athena, policies
from .. import constants as c
from ..conditions import HAS_KMS
from .names import CATALOG, QUICKSIGHT_ROLE
from .parameters import ENABLED

if TYPE_CHECKING:
    from . import QuickSightInputs

WORKGROUP_ACTIONS = (
    awacs.athena.StartQueryExecution,
    awacs.athena.GetQueryExecution,
    awacs.athena.GetQueryResults,
    awacs.athena.GetQueryResultsStream,
    awacs.athena.StopQueryExecution,
    awacs.athena.GetWorkGroup,
)
CATALOG_METADATA_ACTIONS = (
    awacs.athena.GetDataCatalog,
    awacs.athena.ListDatabases,
    awacs.athena.GetDatabase,
    awacs.athena.ListTableMetadata,
    awacs.athena.GetTableMetadata,
)
GLUE_READ_ACTIONS = (
    awacs.glue.GetDatabase,
    awacs.glue.GetDatabases,
    awacs.glue.GetTable,
    awacs.glue.GetTables,
    awacs.glue.GetPartition,
    awacs.glue.GetPartitions,
    awacs.glue.BatchGetPartition,
)
RESULTS_ACTIONS = (s3.GetObject, s3.PutObject, s3.AbortMultipartUpload, s3.ListMultipartUploadParts)


def _allow(sid: str, actions, resources) -> Statement:
    return Statement(Sid=sid, Effect=Allow, Action=list(actions), Resource=list(resources))


def _config_folders(bucket) -> list:
    return [policies.objects_arn(bucket, f"{prefix}/*") for prefix in (c.CONFIG_EXPORT_PREFIX, c.HISTORY_PREFIX)]


def _statements(inputs: QuickSightInputs) -> list[Statement]:
    buckets = (inputs.athena_bucket, inputs.config_bucket, inputs.datasync_bucket)
    results = policies.objects_arn(inputs.athena_bucket, f"{athena.RESULTS_PREFIX}*")
    return [
        _allow("AthenaWorkGroup", WORKGROUP_ACTIONS, [athena.workgroup_arn(inputs.workgroup, inline=True)]),
        _allow("AthenaCatalogMetadata", CATALOG_METADATA_ACTIONS, [athena.catalog_arn(CATALOG)]),
        _allow("GlueCatalog", GLUE_READ_ACTIONS, athena.glue_arns(inputs.database, inline=True)),
        _allow("Buckets", [s3.ListBucket, s3.GetBucketLocation], [policies.bucket_arn(b) for b in buckets]),
        # The views read the Config export and the history from the Config bucket (not the raw AWSLogs/
        # deliveries); the inventory bucket holds nothing but the data sync.
        _allow(
            "ReadData",
            [s3.GetObject],
            [*_config_folders(inputs.config_bucket), policies.objects_arn(inputs.datasync_bucket)],
        ),
        _allow("QueryResults", RESULTS_ACTIONS, [results]),
        _allow("QueryResultsUploads", [s3.ListBucketMultipartUploads], [policies.bucket_arn(inputs.athena_bucket)]),
    ]


def quicksight_role(inputs: QuickSightInputs) -> iam.Role:
    """The data source's role; the template must have the ENABLED and HasKmsKey conditions."""
    return iam.Role(
        QUICKSIGHT_ROLE,
        Condition=ENABLED,
        Description="QuickSight Athena data source: query the patch compliance views and write query results",
        AssumeRolePolicyDocument=policies.assume_role("quicksight"),
        Policies=[
            iam.Policy(PolicyName="athena-views", PolicyDocument=policies.document(*_statements(inputs))),
            # Buckets encrypted with the customer key: decrypt what the views read, encrypt query results.
            policies.conditional_policy(HAS_KMS, "bucket-key", policies.kms_via_s3_statement(inputs.kms_key)),
        ],
    )
