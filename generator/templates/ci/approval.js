// The approval of a destructive change: the label, added after the last push by someone with write access
// who is not the pull request's author. A push (synchronize) removes the label, so every approval is of
// the plans the approver read. The outcome is written into the comment (approval.md) and `approved`.
const fs = require("fs");
const { owner, repo } = context.repo;
const issue_number = context.issue.number;
const label = process.env.LABEL;
const pull = context.payload.pull_request;
const record = (text) => fs.writeFileSync(process.env.APPROVAL, `#### Approval of destructive changes\n\n${text}\n`);
const { data: current } = await github.rest.issues.listLabelsOnIssue({ owner, repo, issue_number, per_page: 100 });
let labels = current.map((item) => item.name);
if (context.payload.action === "synchronize" && labels.includes(label)) {
  await github.rest.issues.removeLabel({ owner, repo, issue_number, name: label });
  labels = labels.filter((name) => name !== label);
  core.info(`a new push: the label ${label} is removed; approve again after reading the new plans`);
}
if (!labels.includes(label)) {
  core.setOutput("approved", "false");
  record(`None: the label \`${label}\` is not set (a push removes it).`);
  return;
}
const events = await github.paginate(github.rest.issues.listEvents, { owner, repo, issue_number, per_page: 100 });
const added = events.filter((e) => e.event === "labeled" && e.label && e.label.name === label).pop();
const approver = added && added.actor ? added.actor.login : "";
let refusal = "";
if (!approver) {
  refusal = "GitHub has no record of who added the label";
} else if (pull && pull.user && approver === pull.user.login) {
  refusal = `\`${approver}\` wrote the pull request, and an author cannot approve their own change`;
} else {
  const { data } = await github.rest.repos.getCollaboratorPermissionLevel({ owner, repo, username: approver });
  if (!["admin", "write"].includes(data.permission)) {
    refusal = `\`${approver}\` has ${data.permission} access; an approver needs write access`;
  }
}
if (refusal) {
  core.setOutput("approved", "false");
  core.warning(`the label ${label} does not approve: ${refusal}`);
  record(`Not approved: the label \`${label}\` is set, but ${refusal}.`);
  return;
}
core.setOutput("approved", "true");
core.setOutput("approver", approver);
record(`Approved by \`${approver}\` (write access, not the author) at ${added.created_at}, for the plans of ${pull.head.sha}.`);
