"""`tierstack verify`: read the live Vertex AI resources back and compare them with the generated stacks. One concern a
module: `model` (the resource kinds, a resource as a stack expects it and as the API gives it back, the findings and
reports), `read` (what the synthesized stacks say: their `cdk.tf.json` read into expectations), `live` (what the API
says: the Reader over `google-cloud-aiplatform`'s GAPIC clients, its access errors, the credentials), `compare` (the
findings of one resource), `check` (`verify`: every resource read back concurrently and compared, the declared data
sources checked) and `render` (the report as JSON data and as text). It may import generator's core (errors, file
I/O), the stack paths, the data-source checks and, inside the functions that need them, the config and plan (to find
a config's stacks) and the Google clients; never the CLI, click or cdktn.
"""

from tierstack.generator.analysis.verify.check import verify
from tierstack.generator.analysis.verify.live import ENDPOINT_ENV, NETWORK_HINT, AccessError, Reader, connect
from tierstack.generator.analysis.verify.read import expectation, load_stack, synthesized_stacks
from tierstack.generator.analysis.verify.render import to_data, to_text

__all__ = [
    "ENDPOINT_ENV",
    "NETWORK_HINT",
    "AccessError",
    "Reader",
    "connect",
    "expectation",
    "load_stack",
    "synthesized_stacks",
    "to_data",
    "to_text",
    "verify",
]
