import fs from "node:fs";
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

/**
 * Copies the artifacts typechain should bind into `cache/ocean-artifacts/<Name>.json` and returns those paths.
 * Typechain mirrors an artifact's path in its output, and a `node_modules` segment inside typechain-types/
 * would make Node resolve the generated files as part of an ESM package; a flat copy avoids that.
 */
export function oceanArtifactPaths(root: string = process.cwd()): string[] {
  const out = path.join(root, "cache", "ocean-artifacts");
  fs.mkdirSync(out, { recursive: true });
  return Object.entries(OCEAN_ARTIFACTS).map(([name, rel]) => {
    const target = path.join(out, `${name}.json`);
    const source = path.join(oceanArtifactDir(), rel);
    if (!fs.existsSync(target) || fs.statSync(target).mtimeMs < fs.statSync(source).mtimeMs) {
      fs.copyFileSync(source, target);
    }
    return path.relative(root, target);
  });
}
