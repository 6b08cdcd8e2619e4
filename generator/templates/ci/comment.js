// The review comment, in as many comments as GitHub's limit needs. The comment step wrote the sections as
// files in COMMENT_DIR, named in the order a reviewer must read them (the verdict and the approval, data at
// risk in the committed stacks, the stacks not planned and why, then each planned stack's review, production
// first); they are packed in that order,
// each whole, into parts under PART_LIMIT characters (GitHub refuses a body over 65,536; the rest is room
// for the records a deploy appends to the first part). Each part starts with its own marker line, which
// tierstack alone writes (review escapes every HTML comment a plan could carry), and is found again by it and
// by its author on the next push: updated in place, created when new, deleted when no longer needed.
const fs = require("fs");
const path = require("path");

const PART_LIMIT = 62000;
const marker = process.env.MARKER; // <!-- tierstack-review:NAME -->
const partPrefix = marker.replace(/ -->$/, " part ");
const markerOf = (k) => (k === 1 ? marker : `${partPrefix}${k} -->`);
const room = PART_LIMIT - 400; // for the marker, the part line and the note on the parts that follow

// a section longer than a part (it should not be: review keeps its own under 60,000) is cut at line ends
function pieces(section) {
  if (section.length <= room) {
    return [section];
  }
  const out = [];
  let current = "";
  for (const whole of section.split(/(?<=\n)/)) {
    for (let start = 0; start < whole.length; start += room) {
      const line = whole.slice(start, start + room);
      if (current.length + line.length > room) {
        out.push(`${current}\n_(continued in the next comment)_\n`);
        current = "";
      }
      current += line;
    }
  }
  return current ? [...out, current] : out;
}

const sections = fs
  .readdirSync(process.env.COMMENT_DIR)
  .filter((name) => name.endsWith(".md"))
  .sort()
  .map((name) => fs.readFileSync(path.join(process.env.COMMENT_DIR, name), "utf8").replace(/\n*$/, "\n"));
const parts = [[]];
let size = 0;
for (const piece of sections.flatMap(pieces)) {
  if (size + piece.length + 1 > room && parts[parts.length - 1].length > 0) {
    parts.push([]);
    size = 0;
  }
  parts[parts.length - 1].push(piece);
  size += piece.length + 1;
}
const count = parts.length;
const bodies = parts.map((part, i) => {
  const k = i + 1;
  const head = k === 1 ? "" : `_Part ${k} of ${count} of this review._\n\n`;
  const tail = k === 1 && count > 1 ? `\n_The review goes on in the next ${count - 1} comment(s), parts 2 to ${count}._\n` : "";
  return `${markerOf(k)}\n${head}${part.join("\n")}${tail}`;
});

const { owner, repo } = context.repo;
const issue_number = context.issue.number;
const comments = await github.paginate(github.rest.issues.listComments, { owner, repo, issue_number, per_page: 100 });
const ours = comments.filter((c) => c.user && c.user.login === "github-actions[bot]");
const partOf = (c) => {
  const body = c.body || "";
  if (body.startsWith(`${marker}\n`)) {
    return 1;
  }
  const match = body.startsWith(partPrefix) ? /^(\d+) -->\n/.exec(body.slice(partPrefix.length)) : null;
  return match ? Number(match[1]) : 0;
};
for (const [i, body] of bodies.entries()) {
  const previous = ours.find((c) => partOf(c) === i + 1);
  if (previous) {
    await github.rest.issues.updateComment({ owner, repo, comment_id: previous.id, body });
  } else {
    await github.rest.issues.createComment({ owner, repo, issue_number, body });
  }
}
for (const stale of ours.filter((c) => partOf(c) > count)) {
  await github.rest.issues.deleteComment({ owner, repo, comment_id: stale.id });
}
core.info(`the review: ${count} comment(s), ${bodies.map((b) => b.length).join(" + ")} characters`);
