"""The member template: deployed by the StackSet to every target account and region (or on its own)."""

from __future__ import annotations

from troposphere import Output, Ref, Template

from . import config, parameters, ssm, tagging

DESCRIPTION = (
    "Patch compliance member: AWS Config rules (and a recorder unless one exists, e.g. Control Tower's), SSM "
    "inventory/patch-scan associations, a patching maintenance window, EC2 platform tagging and a resource data "
    "sync to the central account."
)


def build_member() -> Template:
    template = Template(Description=DESCRIPTION)
    template.set_version()
    params = parameters.add_parameters(template, parameters.MEMBER_SPECS)
    parameters.set_interface(template, parameters.MEMBER_SPECS)
    member_config = config.add_member_config(template, params)
    ssm.add_associations(template, params)
    ssm.add_maintenance_window(template, params)
    tagger = tagging.add_tagging(template, params)
    sync = ssm.add_resource_data_sync(template, params)
    config.add_aggregation_authorization(template, params)

    template.add_output(
        [
            Output(
                "ConfigRecorderName",
                Condition=member_config.recorder_condition,
                Description="The stack's recorder (only when CreateConfigRecorder is true)",
                Value=Ref(member_config.recorder),
            ),
            Output("TaggingFunctionName", Value=Ref(tagger.function)),
            Output("ResourceDataSyncName", Value=Ref(sync)),
        ]
    )
    return template
