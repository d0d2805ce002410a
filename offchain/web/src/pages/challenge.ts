/**
 * The job page's "Challenge the receipt" panel (pages/job.ts places it): the window, the bond and a button while the
 * receipt can be challenged; for the requester, joining a challenge someone else took within its join period; then
 * what became of the receipt.
 */
import { JobStatus } from "../../../protocol/params";
import { runAction, who, type App } from "../app";
import { fill, h } from "../dom";
import { clock, duration, percent, tokens } from "../format";

export type JobMarketConfig = Awaited<ReturnType<App["market"]["ph"]["jobMarket"]["config"]>>;
export type OnChainJob = Awaited<ReturnType<App["market"]["ph"]["jobMarket"]["getJob"]>>;

/**
 * The "Challenge the receipt" panel: while the receipt is within its window, the time left, the bond and a button;
 * afterwards what became of it (challenged, settled, slashed). Its body is rebuilt only when the state changes, so
 * the button and the action's progress survive the page's polling; the countdown is updated in place.
 */
export function challengePanel(app: App, jobId: bigint, refreshed: () => Promise<void>) {
  const body = h("div");
  const status = h("div", { class: "status", "aria-live": "polite" });
  const el = h(
    "section",
    { class: "panel", "aria-labelledby": "challenge-title", id: "challenge" },
    h("h2", { id: "challenge-title" }, "Challenge the receipt"),
    body,
    status,
  );
  const left = h("span", { class: "window-left" });
  let key = "";
  let busy = false;
  // Whether this account, the requester, joined someone else's challenge: from its click, or from the chain's logs,
  // read once (no button until they are read).
  let joinedHere = false;
  let joinChecked: "no" | "reading" | "read" = "no";
  const act = (b: HTMLButtonElement, done: (bond: bigint) => string) =>
    b.addEventListener("click", () => {
      busy = true;
      void runAction(
        b,
        status,
        (say) => app.actions(say).challenge(jobId),
        (r) => done(r.bond),
      ).finally(() => {
        busy = false;
        void refreshed();
      });
    });
  const button = h("button", { type: "button" }, "Challenge this receipt");
  act(button, (bond) => `You challenged the receipt; the job market holds your bond of ${tokens(bond)} OCEAN.`);
  // The requester joins a challenge someone else took (see Actions.checkJoin).
  const joinButton = h("button", { type: "button" }, "Join the challenge");
  act(joinButton, (bond) => {
    joinedHere = true;
    return `You joined the challenge; the job market holds your bond of ${tokens(bond)} OCEAN.`;
  });

  const update = (job: OnChainJob, cfg: JobMarketConfig, now: number): void => {
    const st = Number(job.status);
    const closesAt = Number(job.submittedAt + cfg.challengeWindow);
    const open = st === JobStatus.Submitted && now <= closesAt;
    const me = app.account?.address.toLowerCase();
    const mine = me === job.challenger.toLowerCase();
    const joinClosesAt = Number(job.challengedAt + cfg.challengeWindow);
    const requesterOfOthers = st === JobStatus.Challenged && me === job.requester.toLowerCase() && !mine;
    if (requesterOfOthers && me && joinChecked === "no") {
      joinChecked = "reading";
      void app.market
        .challengedBy(jobId, me)
        .then((joined) => (joinedHere ||= joined))
        .catch(() => undefined) // the action checks again before it sends
        .finally(() => {
          joinChecked = "read";
          update(job, cfg, now);
        });
    }
    const joinable = requesterOfOthers && now <= joinClosesAt && joinChecked === "read" && !joinedHere;
    const joined = st === JobStatus.Challenged && joinedHere;
    const k = `${st}:${open}:${joinable}:${joined}`;
    if (open) fill(left, `${duration(closesAt - now)} left`);
    if (joinable) fill(left, `${duration(joinClosesAt - now)} left`);
    if (k === key || busy) return;
    key = k;
    const bond = `${tokens(cfg.challengeBond)} OCEAN`;
    const challenged = job.challengedAt > 0n;
    if (open) {
      fill(
        body,
        h(
          "p",
          null,
          "Anyone who finds this receipt wrong (a re-run that gives another output, weights that are not the model's) may challenge it while its window is open. ",
          `The arbiter then decides: if the receipt is wrong, the worker's collateral is slashed and the challenger gets the bond back plus ${percent(BigInt(cfg.challengerRewardBps), 10_000n)} of that collateral (half of that if the job's requester joins the challenge); if it is right, the bond goes to the worker.`,
        ),
        h(
          "dl",
          { class: "facts challenge-facts" },
          h("dt", null, "Window closes"),
          h("dd", null, `${clock(closesAt)} (`, left, ")"),
          h("dt", null, "Bond"),
          h("dd", { class: "bond" }, `${bond}, taken from your account when you challenge`),
          h("dt", null, "Arbiter"),
          h("dd", { class: "arbiter" }, who(app, cfg.arbiter)),
        ),
        localArbiter(app, jobId),
        button,
      );
    } else if (st === JobStatus.Submitted) {
      fill(
        body,
        h(
          "p",
          null,
          `The challenge window closed at ${clock(closesAt)}: the receipt can no longer be challenged. The job settles and the worker is paid.`,
        ),
      );
    } else if (st === JobStatus.Challenged) {
      fill(
        body,
        h(
          "p",
          { class: "challenged" },
          h("strong", null, "Challenged"),
          ` by ${mine ? "you" : who(app, job.challenger)} at ${clock(job.challengedAt)} with a bond of ${bond}. `,
          job.challenger.toLowerCase() === job.requester.toLowerCase()
            ? ""
            : `The requester may join the challenge until ${clock(joinClosesAt)}, and the arbiter decides after that. `,
          `The arbiter decides by ${clock(job.challengedAt + cfg.arbitrationWindow)}; without a decision by then the challenge lapses, the receipt stands, the job settles and the bond goes to the worker.`,
        ),
        localArbiter(app, jobId),
        ...joinLines(joined, joinable, joinClosesAt, left, bond, joinButton),
      );
    } else if (st === JobStatus.Slashed) {
      fill(
        body,
        h(
          "p",
          null,
          "The challenge was upheld: the receipt was wrong. The worker's collateral was slashed, the requester's fee refunded, and the challenger's bond returned with a reward.",
        ),
      );
    } else if (st === JobStatus.Settled) {
      fill(
        body,
        h(
          "p",
          null,
          challenged
            ? "The receipt was challenged; the challenge was rejected or lapsed, and the job settled."
            : "Nobody challenged the receipt within its window: the job settled and the worker was paid.",
        ),
      );
    } else fill(body);
  };
  return { el, update };
}

/** What the requester of a job someone else challenged reads: that it joined, or how to join (the button). */
function joinLines(
  joined: boolean,
  joinable: boolean,
  closesAt: number,
  left: HTMLElement,
  bond: string,
  joinButton: HTMLButtonElement,
): HTMLElement[] {
  if (joined)
    return [
      h("p", { class: "join" }, "You joined this challenge: if it is upheld, half the challenger's reward is yours."),
    ];
  if (!joinable) return [];
  return [
    h(
      "p",
      { class: "join" },
      `You requested this job: join the challenge with a bond of ${bond} until ${clock(closesAt)} (`,
      left,
      "). If it is upheld, half the challenger's reward is then yours; if it is rejected, your bond goes to the worker too.",
    ),
    joinButton,
  ];
}

/**
 * On a local chain the arbiter is the deployer dev account, whom no page acts for: unless someone decides with the
 * CLI within the arbitration window, a challenge lapses and its bond goes to the worker, right or wrong.
 */
function localArbiter(app: App, jobId: bigint) {
  if (!app.local) return null;
  return h(
    "p",
    { class: "hint local-arbiter" },
    "On this local chain the arbiter is the deployer dev account, and no page decides for it: a challenge is decided " +
      `only if someone runs \`./posthuman job resolve ${jobId} --upheld --account deployer\` (or --dismissed) in ` +
      "time. Re-run the job first (`./posthuman job verify " +
      `${jobId}\`): a challenge of a right receipt loses the bond.`,
  );
}
