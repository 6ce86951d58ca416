"""Systems Manager in each member account and region: associations, maintenance window, resource data sync.

The scan association only ever scans; installing happens only inside the maintenance window, and only when
PatchOperation is Install.
"""

from __future__ import annotations

from troposphere import If, NoValue, Ref, Template
from troposphere.ssm import (
    Association,
    MaintenanceWindow,
    MaintenanceWindowRunCommandParameters,
    MaintenanceWindowTarget,
    MaintenanceWindowTask,
    ResourceDataSync,
    S3Destination,
    Targets,
    TaskInvocationParameters,
)

from . import constants as c
from .conditions import CREATE_INVENTORY, HAS_KMS

ALL_INSTANCES = [Targets(Key="InstanceIds", Values=["*"])]


def add_associations(template: Template, params: dict) -> list[Association]:
    CREATE_INVENTORY.use(template)
    agent = Association(
        c.UPDATE_AGENT_ASSOCIATION,
        AssociationName=c.UPDATE_AGENT_ASSOCIATION_NAME,
        Name="AWS-UpdateSSMAgent",
        ScheduleExpression=Ref(params["AgentUpdateSchedule"]),
        Targets=ALL_INSTANCES,
    )
    inventory = Association(
        c.INVENTORY_ASSOCIATION,
        Condition=CREATE_INVENTORY,
        AssociationName=c.INVENTORY_ASSOCIATION_NAME,
        Name="AWS-GatherSoftwareInventory",
        ScheduleExpression=Ref(params["InventorySchedule"]),
        Targets=ALL_INSTANCES,
        Parameters={
            "applications": ["Enabled"],
            "awsComponents": ["Enabled"],
            "networkConfig": ["Enabled"],
            "instanceDetailedInformation": ["Enabled"],
            "windowsUpdates": ["Enabled"],
            "services": ["Enabled"],
            "windowsRoles": ["Enabled"],
            "customInventory": ["Enabled"],
        },
    )
    scan = Association(
        c.SCAN_ASSOCIATION,
        AssociationName=c.SCAN_ASSOCIATION_NAME,
        Name="AWS-RunPatchBaseline",
        ScheduleExpression=Ref(params["ScanSchedule"]),
        Targets=ALL_INSTANCES,
        Parameters={"Operation": ["Scan"]},
    )
    return [template.add_resource(a) for a in (agent, inventory, scan)]


def add_maintenance_window(template: Template, params: dict) -> MaintenanceWindowTask:
    window = template.add_resource(
        MaintenanceWindow(
            c.MAINTENANCE_WINDOW,
            Name=c.MAINTENANCE_WINDOW_NAME,
            Description="Scans or installs patches on instances tagged with PlatformType",
            Schedule=Ref(params["MaintenanceWindowSchedule"]),
            ScheduleTimezone=Ref(params["MaintenanceWindowTimezone"]),
            Duration=Ref(params["MaintenanceWindowDuration"]),
            Cutoff=Ref(params["MaintenanceWindowCutoff"]),
            AllowUnassociatedTargets=False,
        )
    )
    target = template.add_resource(
        MaintenanceWindowTarget(
            c.MAINTENANCE_WINDOW_TARGET,
            WindowId=Ref(window),
            Name="PlatformTaggedInstances",
            Description="Instances the tagging function tagged with PlatformType",
            ResourceType="INSTANCE",
            Targets=[Targets(Key="tag-key", Values=["PlatformType"])],
        )
    )
    return template.add_resource(
        MaintenanceWindowTask(
            c.MAINTENANCE_WINDOW_TASK,
            WindowId=Ref(window),
            Name="RunPatchBaseline",
            Description="AWS-RunPatchBaseline with the stack's operation and reboot option",
            TaskType="RUN_COMMAND",
            TaskArn="AWS-RunPatchBaseline",
            Priority=1,
            MaxConcurrency=Ref(params["MaxConcurrency"]),
            MaxErrors=Ref(params["MaxErrors"]),
            Targets=[Targets(Key="WindowTargetIds", Values=[Ref(target)])],
            TaskInvocationParameters=TaskInvocationParameters(
                MaintenanceWindowRunCommandParameters=MaintenanceWindowRunCommandParameters(
                    Parameters={
                        "Operation": [Ref(params["PatchOperation"])],
                        "RebootOption": [Ref(params["RebootOption"])],
                    },
                    TimeoutSeconds=3600,
                )
            ),
        )
    )


def add_resource_data_sync(template: Template, params: dict) -> ResourceDataSync:
    HAS_KMS.use(template)
    return template.add_resource(
        ResourceDataSync(
            c.RESOURCE_DATA_SYNC,
            SyncName=c.RESOURCE_DATA_SYNC_NAME,  # max 64 chars; one sync per account and region
            S3Destination=S3Destination(
                BucketName=Ref(params["DataSyncBucketName"]),
                BucketRegion=Ref(params["DataSyncBucketRegion"]),
                BucketPrefix=Ref(params["DataSyncPrefix"]),
                SyncFormat="JsonSerDe",
                KMSKeyArn=If(HAS_KMS, Ref(params["KmsKeyArn"]), NoValue),
            ),
        )
    )
