import path from "node:path";

/**
 * The Ocean Protocol artifacts PostHuman deploys or talks to. `@oceanprotocol/contracts` ships only
 * Hardhat artifacts (abi + bytecode); typechain turns these into typed factories and bindings.
 */
export const OCEAN_ARTIFACTS = {
  OceanToken: "utils/OceanToken.sol/OceanToken.json",
  OPFCommunityFeeCollector: "communityFee/OPFCommunityFeeCollector.sol/OPFCommunityFeeCollector.json",
  BPool: "pools/balancer/BPool.sol/BPool.json",
  FactoryRouter: "pools/FactoryRouter.sol/FactoryRouter.json",
  FixedRateExchange: "pools/fixedRate/FixedRateExchange.sol/FixedRateExchange.json",
  Dispenser: "pools/dispenser/Dispenser.sol/Dispenser.json",
  ERC20Template: "templates/ERC20Template.sol/ERC20Template.json",
  ERC721Template: "templates/ERC721Template.sol/ERC721Template.json",
  ERC721Factory: "ERC721Factory.sol/ERC721Factory.json",
} as const;

export type OceanArtifactName = keyof typeof OCEAN_ARTIFACTS;

export function oceanArtifactDir(): string {
  return path.join(path.dirname(require.resolve("@oceanprotocol/contracts/package.json")), "artifacts", "contracts");
}

export function oceanArtifactPaths(): string[] {
  const dir = path.relative(process.cwd(), oceanArtifactDir());
  return Object.values(OCEAN_ARTIFACTS).map((p) => path.join(dir, p));
}
