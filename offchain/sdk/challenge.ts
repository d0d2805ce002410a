/**
 * A receipt's challenge checked before anything is sent: the chain's rules (JobMarket.challengeReceipt) in words, so
 * that a challenge the chain would refuse costs neither the bond's approval nor a reverted transaction.
 */
import type { ethers } from "ethers";
import type { Sent } from "./base";
import type { PostHumanCore } from "./core";
import { durationText, SdkError, utcText } from "./errors";
import type { JobMarketClient } from "./job-market";

/** Challenges a receipt within its window, putting up the challenge bond (the job market's config). */
export async function challengeReceipt(
  ph: PostHumanCore,
  jobId: bigint,
  onStep: (line: string) => void,
): Promise<{ bond: bigint; approvals: string[] } & Sent> {
  await checkChallenge(ph.jobs, ph.provider, jobId, await ph.address());
  const { challengeBond } = await ph.jobs.config();
  const approvals = await ph.ensureBase(challengeBond, ph.jobs.address, `post the challenge bond of job ${jobId}`);
  onStep(`Challenging the receipt of job ${jobId}…`);
  return { ...(await ph.jobs.challenge(jobId)), bond: challengeBond, approvals };
}

/** Throws SdkError CHALLENGE_REFUSED when `me` may not challenge job `jobId`'s receipt now (chain time). */
export async function checkChallenge(
  jobs: JobMarketClient,
  provider: ethers.Provider,
  jobId: bigint,
  me: string,
): Promise<void> {
  const [job, { challengeWindow }, block] = await Promise.all([
    jobs.get(jobId),
    jobs.config(),
    provider.getBlock("latest"),
  ]);
  const now = BigInt(block?.timestamp ?? 0);
  const window = BigInt(challengeWindow);
  const refuse = (message: string, hint: string) =>
    new SdkError("CHALLENGE_REFUSED", `${message} Nothing was sent and no bond was taken.`, hint, {
      data: { jobId, status: job.status },
    });
  const same = (a: string) => a.toLowerCase() === me.toLowerCase();
  // (`now` is the latest block's time: a transaction lands in a later block, so the window's last second is too late)
  if ((job.status === "Submitted" || job.status === "Challenged") && same(job.worker))
    throw refuse(`Job ${jobId}'s receipt is your own worker's: its claimant cannot challenge it.`, "nothing to do");
  if (job.status === "Submitted") {
    const closesAt = job.submittedAt + window;
    if (now >= closesAt)
      throw refuse(
        `The challenge window of job ${jobId} closed ${durationText(Number(now - closesAt))} ago (at ` +
          `${utcText(closesAt)}): a receipt can be challenged for ${durationText(Number(window))} after it is submitted.`,
        "the receipt stands and the job settles; verify receipts sooner to challenge them",
      );
    return;
  }
  if (job.status === "Challenged") {
    if (same(job.challenger)) throw refuse(`You challenged job ${jobId} already.`, "the arbiter decides");
    if (!same(job.requester))
      throw refuse(
        `The receipt of job ${jobId} is challenged already: only the job's requester may join that challenge.`,
        "the arbiter decides",
      );
    const closesAt = job.challengedAt + window;
    if (now >= closesAt)
      throw refuse(
        `The time to join the challenge of job ${jobId} ended ${durationText(Number(now - closesAt))} ago: a ` +
          `requester may join for ${durationText(Number(window))} after a challenge is made.`,
        "the arbiter decides the challenge as it stands",
      );
    if (await jobs.challengedBy(jobId, me))
      throw refuse(`You joined the challenge of job ${jobId} already.`, "the arbiter decides");
    return;
  }
  if (job.status === "Settled")
    throw refuse(
      `Job ${jobId} settled: its challenge window is closed and the worker was paid.`,
      "the receipt stands; nothing can be challenged",
    );
  if (job.status === "Open" || job.status === "Claimed")
    throw refuse(`Job ${jobId} has no receipt yet: there is nothing to challenge.`, "wait for its receipt");
  throw refuse(`Job ${jobId} has ended (${job.status}): it can no longer be challenged.`, "nothing to challenge");
}

/** The arbiter's decision on a challenged receipt, checked first (JobMarket.resolveChallenge's rules in words). */
export async function resolveChallenge(
  ph: PostHumanCore,
  jobId: bigint,
  upheld: boolean,
): Promise<{ upheld: boolean; slashed: bigint } & Sent> {
  await checkResolve(ph.jobs, ph.provider, jobId, await ph.address());
  return ph.jobs.resolve(jobId, upheld);
}

/** Throws SdkError RESOLVE_REFUSED when `me` may not decide job `jobId`'s challenge now (chain time). */
export async function checkResolve(
  jobs: JobMarketClient,
  provider: ethers.Provider,
  jobId: bigint,
  me: string,
): Promise<void> {
  const [job, { arbiter, challengeWindow }, block] = await Promise.all([
    jobs.get(jobId),
    jobs.config(),
    provider.getBlock("latest"),
  ]);
  const refuse = (message: string, hint: string, data: Record<string, unknown> = {}) =>
    new SdkError("RESOLVE_REFUSED", `${message} Nothing was sent.`, hint, {
      data: { jobId, status: job.status, ...data },
    });
  if (arbiter.toLowerCase() !== me.toLowerCase())
    throw refuse(
      `Only the job market's arbiter (${arbiter}) decides challenges; you are ${me}.`,
      "sign with the arbiter's key",
      { arbiter },
    );
  if (job.status === "Submitted")
    throw refuse(`Job ${jobId}'s receipt is not challenged: there is nothing to decide.`, "nothing to do");
  if (job.status === "Open" || job.status === "Claimed")
    throw refuse(`Job ${jobId} has no receipt yet: there is nothing to decide.`, "nothing to do");
  if (job.status !== "Challenged")
    throw refuse(`Job ${jobId} has ended (${job.status}): there is no challenge to decide.`, "nothing to do");
  // A third party's challenge is decided only once the requester's time to join it is over (the latest block's time:
  // the transaction lands in a later block, so the window's last second is already past then).
  const joinClosesAt = job.challengedAt + BigInt(challengeWindow);
  const now = BigInt(block?.timestamp ?? 0);
  if (job.challenger.toLowerCase() === job.requester.toLowerCase() || now >= joinClosesAt) return;
  if (await jobs.challengedBy(jobId, job.requester)) return;
  throw refuse(
    `Job ${jobId}'s requester may join its challenge until ${utcText(joinClosesAt)} (UTC, chain time), in about ` +
      `${durationText(Number(joinClosesAt - now))}: the arbiter decides after that.`,
    "decide after that time",
    { joinClosesAt },
  );
}
