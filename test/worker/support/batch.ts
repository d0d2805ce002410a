/** A contract requester that makes several job requests in one transaction (contracts/test/BatchRequester.sol). */
import { ethers } from "ethers";
import { datatokenAt } from "../../../offchain/protocol/contracts";
import { sha256Hex } from "../../../offchain/protocol/auth";
import type { World } from "../../../offchain/devnet/world";
import { BatchRequester__factory, type BatchRequester } from "../../../typechain-types";

const KINDS = { Train: 0n, Infer: 1n, Evaluate: 2n } as const;

/**
 * Deploys a BatchRequester owned by `owner` (who signs its uploads, ERC-1271) and funds it from `owner` with one
 * datatoken of `datatoken` and `fee` per job, for `jobs` jobs.
 */
export async function deployBatch(w: World, owner: ethers.Signer, datatoken: string, jobs: number, fee: bigint) {
  const batch = await new BatchRequester__factory(owner).deploy(w.book.contracts.JobMarket, await owner.getAddress());
  const address = await batch.getAddress();
  await (await datatokenAt(datatoken, owner).transfer(address, BigInt(jobs) * ethers.parseEther("1"))).wait();
  await (await w.ocean.oceanToken.connect(owner).transfer(address, BigInt(jobs) * fee)).wait();
  return { batch, address };
}

/** Requests one job per input in a single transaction; the job ids, in order. */
export async function requestBatch(
  w: World,
  batch: BatchRequester,
  o: { modelId: bigint; datatoken: string; kind: keyof typeof KINDS; fee: bigint; deadline: number; params: string },
  inputs: Buffer[],
): Promise<bigint[]> {
  const requests = inputs.map((input) => ({
    modelId: o.modelId,
    kind: KINDS[o.kind],
    inputHash: sha256Hex(input),
    inputURI: "",
    fee: o.fee,
    deadline: o.deadline,
    params: o.params,
  }));
  const receipt = (await (await batch.requestAll(requests, o.datatoken)).wait())!;
  return receipt.logs
    .map((l) => w.ph.jobMarket.interface.parseLog(l))
    .filter((e) => e?.name === "JobRequested")
    .map((e) => e!.args.jobId as bigint);
}
