"""One CDK-for-Terraform construct per capability (see DESIGN.md, 'Capabilities')."""
