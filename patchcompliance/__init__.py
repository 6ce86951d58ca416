"""Generator of the patch-compliance CloudFormation templates (central and member)."""

__version__ = "1.0.0"
