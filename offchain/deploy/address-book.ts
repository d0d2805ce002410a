import fs from "node:fs";
import path from "node:path";

import { AddressBookSchema, type AddressBook } from "../protocol/address-book";

export const DEPLOYMENTS_DIR = path.join(__dirname, "..", "..", "deployments");

export function addressBookPath(network: string, dir: string = DEPLOYMENTS_DIR): string {
  if (!/^[A-Za-z0-9_-]+$/.test(network))
    throw new Error(`Network name "${network}" may only hold letters, digits, - and _.`);
  return path.join(dir, `${network}.json`);
}

/** Reads and validates an address book; undefined when the file does not exist. */
export function readAddressBook(file: string): AddressBook | undefined {
  if (!fs.existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`Address book ${file} is not valid JSON (${(e as Error).message}). Delete it to redeploy.`);
  }
  const parsed = AddressBookSchema.safeParse(raw);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new Error(`Address book ${file} is malformed: ${why}. Delete it to redeploy.`);
  }
  return parsed.data;
}

/** Writes atomically (temp file + rename) so a crash never leaves half a book. */
export function writeAddressBook(file: string, book: AddressBook): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(book, null, 2) + "\n");
  fs.renameSync(tmp, file);
}
