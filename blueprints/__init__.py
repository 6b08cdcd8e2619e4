"""The built-in tier blueprints (YAML + Jinja2), shipped as package data."""
