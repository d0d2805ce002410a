/**
 * `posthuman job upload`: a job's input sent to its worker again, after an upload cut short (Ctrl-C in `train`,
 * `infer` or `eval`, a network failure). The job is paid for and its worker waits for the input a while (its input
 * wait) before failing it INPUT_MISSING, which refunds the requester: this delivers it instead.
 */
import type { Command } from "commander";
import { sha256Hex } from "../../protocol/auth";
import { connect, id, readFile, sdk } from "../context";
import { CliError } from "../output";
import type { Wiring } from "./shared";

export function addUpload(job: Command, w: Wiring): void {
  job
    .command("upload <job>")
    .description(
      "upload your job's input to its worker again, after an upload cut short (Ctrl-C, a network failure): the " +
        "file must be the one the job committed to on chain (its sha256)",
    )
    .option("--input <file>", "the job's input (default: the copy kept in --data-dir when the job was requested)")
    .action((raw: string, o: { input?: string }, cmd: Command) =>
      w.run(async (out) => {
        const jobId = id(raw, "job");
        const ctx = w.context(cmd);
        const client = await connect(ctx);
        const [job, me] = await Promise.all([sdk(client.jobs.get(jobId)), client.address()]);
        if (job.requester.toLowerCase() !== me.toLowerCase())
          throw new CliError(
            `Job ${raw} was requested by ${job.requester}, not by ${me}: only its requester may upload its input.`,
            "sign as the job's requester (--account, --key-file or POSTHUMAN_PRIVATE_KEY)",
          );
        const bytes = o.input ? readFile(o.input) : client.store?.input(job.inputHash);
        if (!bytes)
          throw new CliError(
            `No copy of job ${raw}'s input is kept in ${ctx.dataDir} (commands keep one there when they request a job).`,
            `pass --input <file>: the file job ${raw} was requested with`,
          );
        const hash = sha256Hex(bytes);
        if (hash.toLowerCase() !== job.inputHash.toLowerCase())
          throw new CliError(
            `${o.input ?? "The kept copy"} is not job ${raw}'s input: its sha256 is ${hash}, the job committed to ` +
              `${job.inputHash}. Nothing was sent.`,
            `pass the file job ${raw} was requested with`,
          );
        out.info(`Uploading job ${raw}'s input to its worker…`);
        const r = await sdk(client.uploadInput(jobId, bytes, undefined, o.input ?? "the kept copy of its input"));
        out.result(
          { jobId, uploaded: true, inputAck: r.inputAck ?? null },
          () =>
            `job ${raw}'s input reached its worker${r.inputAck ? ", which acknowledged it" : ""}; follow the job: ` +
            `posthuman job show ${raw}`,
        );
      }, cmd),
    );
}
