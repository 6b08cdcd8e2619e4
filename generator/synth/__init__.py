"""Synthesis: the only code besides modules/ that imports cdktn, jsii or the provider bindings.

stacks.py assembles one cdktn app per environment from the resolved plan and the capability modules;
jsii_env.py prepares and supervises the jsii Node runtime. It may import plan, config, facts, core and
tierstack.modules.
"""
