import fs from "node:fs";
import path from "node:path";

import { AddressBookSchema, type AddressBook } from "../protocol/address-book";

export const DEPLOYMENTS_DIR = path.join(__dirname, "..", "..", "deployments");

export function addressBookPath(network: string, dir: string = DEPLOYMENTS_DIR): string {
  if (!/^[A-Za-z0-9_-]+$/.test(network))
    throw new Error(`Network name "${network}" may only hold letters, digits, - and _.`);
  return path.join(dir, `${network}.json`);
}

/**
 * Reads and validates an address book; undefined when the file does not exist. `fix` ends the error of a broken
 * one: what its reader can do about it (`posthuman up` redeploys when its own book is deleted; a book someone gave
 * must be replaced by the deployment's own).
 */
export function readAddressBook(
  file: string,
  fix = "Use the address book the deployment wrote (deployments/<network>.json), or ask its operator for it.",
): AddressBook | undefined {
  if (!fs.existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`Address book ${file} is not valid JSON (${(e as Error).message}). ${fix}`);
  }
  const parsed = AddressBookSchema.safeParse(raw);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new Error(`Address book ${file} is malformed: ${why}. ${fix}`);
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
