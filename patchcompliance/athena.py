"""Athena: the workgroup every query runs in, the views (custom resource) and one named query per view."""

from __future__ import annotations

import re
from collections.abc import Mapping

import awacs.athena
import awacs.glue
import awacs.s3 as s3
from awacs.aws import Allow, Statement
from troposphere import GetAtt, If, NoValue, Ref, Sub, Template
from troposphere.athena import (
    EncryptionConfiguration,
    NamedQuery,
    ResultConfiguration,
    WorkGroup,
    WorkGroupConfiguration,
)
from troposphere.cloudformation import CustomResource

from . import constants as c
from . import policies
from .conditions import HAS_KMS
from .events import add_async_invoke_config, add_dead_letter_queue
from .lambdas import add_function
from .render import view_sql

RESULTS_PREFIX = "results/"
TIMEOUT = 300  # Lambda timeout (s)
SERVICE_TIMEOUT = 600  # custom resource ServiceTimeout (s), above the Lambda timeout


class AthenaViewsResource(CustomResource):
    resource_type = "Custom::AthenaViews"
    props = {
        **CustomResource.props,
        "Database": (str, True),
        "WorkGroup": (str, True),
        "Views": (list, True),
    }


def _arn(service: str, path: str, inline: bool, **names) -> Sub:
    """ARN of a resource of this account and region. `path` holds `${Var}` for each of `names`: a resource (its
    Ref) or a literal string. `inline`: write them into the Sub string itself (`${LogicalId}`, the literal) instead
    of as Sub variables; both forms resolve to the same ARN."""
    text = f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{path}"
    if not inline:
        return Sub(text, **{var: value if isinstance(value, str) else Ref(value) for var, value in names.items()})
    for var, value in names.items():
        text = text.replace(f"${{{var}}}", value if isinstance(value, str) else f"${{{value.title}}}")
    return Sub(text)


def workgroup_arn(workgroup, *, inline: bool = False) -> Sub:
    return _arn("athena", "workgroup/${WorkGroup}", inline, WorkGroup=workgroup)


def catalog_arn(catalog: str) -> Sub:
    """An Athena data catalog of this account and region, e.g. AwsDataCatalog (the Glue Data Catalog)."""
    return _arn("athena", f"datacatalog/{catalog}", True)


def glue_arns(database, table=None, *, inline: bool = False) -> list[Sub]:
    """Catalog, database and `table` (default: every table, views included) of `database`."""
    return [
        _arn("glue", "catalog", inline),
        _arn("glue", "database/${Database}", inline, Database=database),
        _arn("glue", "table/${Database}/${Table}", inline, Database=database, Table="*" if table is None else table),
    ]


def add_workgroup(template: Template, results_bucket, kms_key) -> WorkGroup:
    HAS_KMS.use(template)
    return template.add_resource(
        WorkGroup(
            c.ATHENA_WORKGROUP,
            Name=Sub("${AWS::StackName}-patch-compliance"),
            Description="Patch compliance views, named queries and QuickSight",
            RecursiveDeleteOption=True,
            State="ENABLED",
            WorkGroupConfiguration=WorkGroupConfiguration(
                EnforceWorkGroupConfiguration=True,
                PublishCloudWatchMetricsEnabled=True,
                ResultConfiguration=ResultConfiguration(
                    OutputLocation=Sub(f"s3://${{Bucket}}/{RESULTS_PREFIX}", Bucket=Ref(results_bucket)),
                    EncryptionConfiguration=EncryptionConfiguration(
                        EncryptionOption=If(HAS_KMS, "SSE_KMS", "SSE_S3"),
                        KmsKey=If(HAS_KMS, Ref(kms_key), NoValue),
                    ),
                ),
            ),
        )
    )


def run_queries_statement(workgroup, *, read_results: bool = False) -> Statement:
    """Start, watch and stop queries in the workgroup; `read_results` also reads their result rows."""
    results = [awacs.athena.GetQueryResults] if read_results else []
    return Statement(
        Effect=Allow,
        Action=[
            awacs.athena.StartQueryExecution,
            awacs.athena.GetQueryExecution,
            *results,
            awacs.athena.StopQueryExecution,
        ],
        Resource=[workgroup_arn(workgroup)],
    )


def query_statements(workgroup, database, results_bucket, glue_actions) -> list[Statement]:
    """Run queries in the workgroup and write their results; `glue_actions` on the database and its tables."""
    return [
        run_queries_statement(workgroup),
        Statement(Effect=Allow, Action=glue_actions, Resource=glue_arns(database)),
        Statement(
            Effect=Allow,
            Action=[s3.GetBucketLocation, s3.ListBucket],
            Resource=[policies.bucket_arn(results_bucket)],
        ),
        Statement(
            Effect=Allow,
            Action=[s3.PutObject, s3.GetObject, s3.AbortMultipartUpload],
            Resource=[policies.objects_arn(results_bucket, f"{RESULTS_PREFIX}*")],
        ),
    ]


# Sub variables of the view SQL that are constants of the generator, not stack parameters.
SUB_CONSTANTS = {"ExemptUntilTagKey": c.EXEMPT_UNTIL_TAG_KEY}
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")


class SubSql(str):
    """SQL text holding ${Name} placeholders. It reads as that text (modules that scan the views' SQL for the
    tables and views it names see the SQL) and is written to the template as a Fn::Sub of it, with the
    SUB_CONSTANTS it uses as variables and the rest left to the stack parameters of the same names."""

    def to_dict(self) -> dict:
        text = str.__str__(self)
        names = dict.fromkeys(_PLACEHOLDER.findall(text))
        # Always the list form, also without constants: its string is then written as a YAML block like every
        # other multi-line string of the template (the one-argument form would be one quoted scalar).
        return {"Fn::Sub": [text, {key: SUB_CONSTANTS[key] for key in names if key in SUB_CONSTANTS}]}


def view_placeholders(name: str) -> list[str]:
    """The ${Name} placeholders of a view's SQL, in order of first use: stack parameters and SUB_CONSTANTS."""
    return list(dict.fromkeys(_PLACEHOLDER.findall(view_sql(name))))


def _with_placeholders(name: str, text: str) -> str:
    return SubSql(text) if view_placeholders(name) else text


def view_definition(name: str) -> str:
    """The SELECT the custom resource receives for a view: its SQL, or (SubSql) a Fn::Sub of it that writes the
    stack parameters (compliance policy, trend window) into the SQL."""
    return _with_placeholders(name, view_sql(name))


def deployed_view_sql(name: str, parameters: Mapping[str, str]) -> str:
    """The SELECT as deployed with these parameter values (what Fn::Sub makes of view_definition)."""

    def value(match: re.Match) -> str:
        key = match.group(1)
        return SUB_CONSTANTS[key] if key in SUB_CONSTANTS else str(parameters[key])

    return _PLACEHOLDER.sub(value, view_sql(name))


def create_view_statement(name: str) -> str:
    return _with_placeholders(name, f'CREATE OR REPLACE VIEW "{name}" AS\n{view_sql(name)}\n')


def add_views(template, *, workgroup, database, tables, results_bucket, log_retention, kms_key) -> AthenaViewsResource:
    """The views, created in order by AthenaViewsFunction, and a named query (the DDL) per view. A view whose SQL
    holds ${Parameter} placeholders is passed as a Fn::Sub (SubSql), its named query too.

    `kms_key`: the KmsKeyArn parameter; with HasKmsKey the workgroup writes SSE-KMS results, so the function may
    use the key through S3. Returns the custom resource, for whatever must wait for the views.
    """
    HAS_KMS.use(template)
    dlq = add_dead_letter_queue(template, c.ATHENA_VIEWS_DLQ)
    fn = add_function(
        template,
        c.ATHENA_VIEWS_FUNCTION,
        role_id=c.ATHENA_VIEWS_ROLE,
        description="Creates, replaces and drops the patch compliance Athena views",
        log_retention=log_retention,
        timeout=TIMEOUT,
        dead_letter_queue=dlq,
        extra_policies=[policies.conditional_policy(HAS_KMS, "results-key", policies.kms_via_s3_statement(kms_key))],
        statements=query_statements(
            workgroup,
            database,
            results_bucket,
            [
                awacs.glue.GetDatabase,
                awacs.glue.GetTable,
                awacs.glue.GetTables,
                awacs.glue.CreateTable,
                awacs.glue.UpdateTable,
                awacs.glue.DeleteTable,
                awacs.glue.GetPartitions,
            ],
        ),
    )
    add_async_invoke_config(template, fn, max_event_age=SERVICE_TIMEOUT)
    views = template.add_resource(
        AthenaViewsResource(
            c.ATHENA_VIEWS,
            DependsOn=list(tables),
            ServiceToken=GetAtt(fn.function, "Arn"),
            ServiceTimeout=SERVICE_TIMEOUT,
            Database=Ref(database),
            WorkGroup=Ref(workgroup),
            Views=[{"Name": name, "Sql": view_definition(name)} for name in c.VIEW_ORDER],
        )
    )
    for name in c.VIEW_ORDER:
        template.add_resource(
            NamedQuery(
                c.NAMED_QUERY_IDS[name],
                Name=name,
                Description=f"Creates or replaces the {name} view (the stack already did).",
                Database=Ref(database),
                WorkGroup=Ref(workgroup),
                QueryString=create_view_statement(name),
            )
        )
    return views
