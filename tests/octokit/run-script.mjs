// Runs a github-script body as actions/github-script does: an async function of `github` (an Octokit
// REST client), `context`, `core` and `require`, with the step's environment in process.env. Here the
// client talks to the GitHub API stand-in the test started on 127.0.0.1 (tests/test_ci.py).
// usage: node run-script.mjs SCRIPT_FILE CONTEXT_JSON_FILE BASE_URL
import { appendFileSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Octokit } from "@octokit/rest";

const [scriptFile, contextFile, baseUrl] = process.argv.slice(2);
const github = new Octokit({ baseUrl, auth: "test-token", request: { retries: 0 } });
const context = JSON.parse(readFileSync(contextFile, "utf8"));
const core = {
  warning: (message) => console.log(`::warning::${message}`),
  info: (message) => console.log(message),
  setFailed: (message) => { console.log(`::error::${message}`); process.exitCode = 1; },
  // as the runner does: name=value lines in the file GITHUB_OUTPUT names
  setOutput: (name, value) => appendFileSync(process.env.GITHUB_OUTPUT, `${name}=${value}\n`),
};
const require = createRequire(import.meta.url);
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
const script = new AsyncFunction("github", "context", "core", "require", readFileSync(scriptFile, "utf8"));
try {
  await script(github, context, core, require);
} catch (error) {
  console.error(`script failed: ${error.status || ""} ${error.message}`);
  process.exit(1);
}
