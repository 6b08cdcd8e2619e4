// Production's GitHub environment must make a person approve the deploy (a required_reviewers rule with
// at least one reviewer). GitHub has no such rule on private repositories of its Free, Pro and Team plans,
// and an environment can simply lack it: then nothing stops a merge from reaching production. Without a
// rule, the deploy refuses, unless tierstack.yaml waives the guarantee production_reviewers with a reason
// (UNPROTECTED_REASON). Either way the finding goes into the pull request's review comment.
const { owner, repo } = context.repo;
const name = process.env.TIERSTACK_ENVIRONMENT;
let rules = [];
try {
  const { data } = await github.rest.repos.getEnvironment({ owner, repo, environment_name: name });
  rules = data.protection_rules || [];
} catch (error) {
  if (error.status !== 404) throw error;
}
const reviewers = rules.filter((rule) => rule.type === "required_reviewers" && (rule.reviewers || []).length > 0);
if (reviewers.length > 0) {
  core.info(`the GitHub environment ${name} requires a reviewer: the deploy waited for an approval`);
  return;
}
const reason = (process.env.UNPROTECTED_REASON || "").trim();
const escape = (text) => text.replace(/[&<>@`]/g, (c) => `&#${c.charCodeAt(0)};`);
const verdict = reason
  ? `deployed anyway: tierstack.yaml waives production_reviewers ("${escape(reason)}")`
  : "not deployed: add required reviewers to the environment, or waive production_reviewers in tierstack.yaml";
const runUrl = `${context.serverUrl}/${owner}/${repo}/actions/runs/${context.runId}`;
const note = `#### Production without a required reviewer: ${name}\n\nThe GitHub environment \`${name}\` has no ` +
  `required reviewers, so no person approved this deploy ([run](${runUrl})): ${verdict}.`;
const { data: pulls } = await github.rest.repos.listPullRequestsAssociatedWithCommit({
  owner, repo, commit_sha: context.sha,
});
if (pulls.length > 0) {
  const issue_number = pulls[0].number;
  const marker = process.env.MARKER;
  const comments = await github.paginate(github.rest.issues.listComments, { owner, repo, issue_number, per_page: 100 });
  const previous = comments.find(
    (c) => c.user && c.user.login === "github-actions[bot]" && (c.body || "").startsWith(`${marker}\n`),
  );
  if (previous && previous.body.length + note.length + 3 <= 65536) {
    await github.rest.issues.updateComment({ owner, repo, comment_id: previous.id, body: `${previous.body}\n\n${note}\n` });
  } else if (previous) {
    await github.rest.issues.createComment({ owner, repo, issue_number, body: `${note}\n` }); // GitHub's limit
  } else {
    await github.rest.issues.createComment({ owner, repo, issue_number, body: `${marker}\n${note}\n` });
  }
}
if (reason) {
  core.warning(`the GitHub environment ${name} has no required reviewers; accepted by tierstack.yaml: ${reason}`);
} else {
  core.setFailed(
    `the GitHub environment ${name} has no required reviewers, so nothing stops a merge from reaching production. ` +
      `Add them (Settings > Environments > ${name} > Required reviewers; private repositories need a plan that ` +
      "has them), or accept it in tierstack.yaml: waivers: [{guarantee: production_reviewers, reason: \"...\"}]",
  );
}
