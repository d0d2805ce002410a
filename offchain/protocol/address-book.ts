import { z } from "zod";

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "not a 0x-prefixed 20-byte address");

/**
 * One address book per network: deployments/<network>.json, {chainId, startBlock, contracts}. Read by the SDK, the
 * worker, the CLI and the web app; written by the deployment (../deploy/address-book.ts reads and writes the files).
 */
export const AddressBookSchema = z.object({
  chainId: z.number().int().positive(),
  startBlock: z.number().int().nonnegative(),
  contracts: z.record(z.string(), address),
});
export type AddressBook = z.infer<typeof AddressBookSchema>;
