import fs from "node:fs";
import path from "node:path";

/**
 * Writes a compute-to-data job folder afresh: <jobDir>/job.json and <jobDir>/inputs/<name> for each input. The
 * executor (builtin or external) then reads it; outputs/ is the executor's to write.
 */
export function writeJobDir(
  jobDir: string,
  folder: { job: Record<string, unknown>; inputs: ReadonlyArray<{ name: string; bytes: Uint8Array }> },
): void {
  fs.rmSync(jobDir, { recursive: true, force: true });
  const inputs = path.join(jobDir, "inputs");
  fs.mkdirSync(inputs, { recursive: true });
  for (const f of folder.inputs) {
    if (f.name.includes("/") || f.name.includes("\\") || f.name.startsWith("."))
      throw new Error(`input file name ${JSON.stringify(f.name)} must be a plain file name`);
    fs.writeFileSync(path.join(inputs, f.name), f.bytes);
  }
  fs.writeFileSync(path.join(jobDir, "job.json"), JSON.stringify(folder.job, null, 2) + "\n");
}
