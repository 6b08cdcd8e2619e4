// The run of the pull-request workflow that reviewed what this commit deploys: the merged pull request that
// holds the commit, and the newest successful run of PR_WORKFLOW on that pull request's last commit (a
// successful run passed the gate: plans reviewed, destructive changes approved). Its changes artifact says
// which stacks it planned; its plan artifact of each (tierstack-NAME-plan-STACK) is what the deploy compares
// its own plan of that stack with; without one, nothing is applied.
const { owner, repo } = context.repo;
const workflow = process.env.PR_WORKFLOW;
const { data: pulls } = await github.rest.repos.listPullRequestsAssociatedWithCommit({
  owner, repo, commit_sha: context.sha,
});
const merged = pulls.find((pull) => pull.merged_at);
if (!merged) {
  core.setFailed(
    `no merged pull request holds ${context.sha}: a deploy applies only plans a pull request reviewed; ` +
      "make the change through a pull request",
  );
  return;
}
const runs = await github.paginate(github.rest.actions.listWorkflowRuns, {
  owner, repo, workflow_id: workflow, event: "pull_request", head_sha: merged.head.sha, per_page: 100,
});
const reviewed = runs.filter((run) => run.conclusion === "success").sort((a, b) => b.run_number - a.run_number);
if (reviewed.length === 0) {
  core.setFailed(
    `pull request #${merged.number} has no successful review of its last commit ${merged.head.sha}: ` +
      `re-run its ${workflow} workflow (Actions), let it pass, then re-run this deploy`,
  );
  return;
}
core.info(`the review of pull request #${merged.number}: run ${reviewed[0].id} of ${merged.head.sha}`);
core.setOutput("run_id", String(reviewed[0].id));
core.setOutput("pull", String(merged.number));
