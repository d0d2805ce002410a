// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @dev Fixed share supply of every vault (18 decimals): 1,000,000 shares = 100% of a model's revenue.
uint256 constant ROYALTY_VAULT_TOTAL_SHARES = 1_000_000e18;

/// @title Royalty vault of one model: an ERC20 of transferable shares with pull-based, accumulator claims.
/// @notice Each model has one vault (a cheap clone made by the registry). It is the payment collector of the model's
/// datatoken, so it receives the base token of Ocean fixed-rate sales (after anyone calls FixedRateExchange.collectBT),
/// the datatokens that Ocean orders consume (0.97 of each job's datatoken), direct payments (`pay`) and, for a parent
/// model, the royalty its children's vaults send up. `distribute` books what arrived since the last call: for a derived
/// model, `parentBps` of the base token goes at once to the parent's vault, the rest (and all datatokens) is credited
/// to share holders through a per-share accumulator. `claim` pays an account what its shares earned.
/// @dev Gas of `distribute`, `claim` and share transfers is constant: it depends neither on the depth of the lineage
/// nor on the number of holders. Total supply is fixed at initialisation (ROYALTY_VAULT_TOTAL_SHARES). Rounding always favours the
/// vault, by less than one wei per holder and claim.
interface IRoyaltyVault {
    /// @notice Which of the two assets a vault accounts for.
    enum Asset {
        BaseToken,
        Datatoken
    }

    /// @dev A vault's fixed fields are in code: registry and base token in the implementation's (shared by every vault
    /// of a deployment), model id, parent royalty and parent's vault in the clone's immutable args, written when the
    /// registry clones it (with the model's write-once hashes, which the registry reads back). Only the datatoken,
    /// created after the vault (it names the vault as its payment collector), is given at initialisation.
    struct InitParams {
        address datatoken;
        /// Initial share holders (the model's contributors); an unused slot has address 0 and 0 shares.
        address[2] holders;
        /// Their shares; they must add up to ROYALTY_VAULT_TOTAL_SHARES.
        uint256[2] shares;
    }

    /// @notice Incoming revenue of one asset was booked: `toHolders` credited to share holders, `toParent` sent to the
    /// parent's vault (or, once frozen, everything forwarded to the parent's vault as `toParent`).
    event RevenueDistributed(uint256 indexed modelId, address indexed token, uint256 toHolders, uint256 toParent);

    /// @notice `account` was paid what its shares had earned.
    event RevenueClaimed(uint256 indexed modelId, address indexed account, uint256 baseAmount, uint256 datatokenAmount);

    /// @notice Someone paid the model directly through the vault.
    event PaymentReceived(uint256 indexed modelId, address indexed payer, uint256 amount);

    /// @notice The model was frozen: claims are refused and everything the vault holds is forwarded up or burned.
    event VaultFrozen(uint256 indexed modelId);

    error RoyaltyVaultAlreadyInitialized();
    error RoyaltyVaultNotRegistry(address caller);
    error RoyaltyVaultFrozen(uint256 modelId);
    error RoyaltyVaultNothingToClaim(address account);
    error RoyaltyVaultZeroAmount();
    error RoyaltyVaultInvalidShares(uint256 total);
    error RoyaltyVaultInvalidReceiver(address receiver);
    error RoyaltyVaultZeroDatatoken();
    error RoyaltyVaultZeroAddress();

    /// @notice Called once by the registry (the clone's recorded registry, and only it) right after cloning. Mints ROYALTY_VAULT_TOTAL_SHARES to the contributors.
    function initialize(InitParams calldata params) external;

    /// @notice Books the base token and datatokens that arrived since the last call. Anyone may call it.
    /// @return toHolders base token credited to holders; toParent base token sent to the parent's vault.
    function distribute() external returns (uint256 toHolders, uint256 toParent);

    /// @notice Pays `account` what its shares earned, in the base token and the model's datatoken. Anyone may call
    /// it; the tokens always go to `account`.
    function claim(address account) external returns (uint256 baseAmount, uint256 datatokenAmount);

    /// @notice Pays `amount` of the base token to the model (pulled from the caller; needs an allowance).
    function pay(uint256 amount) external;

    /// @notice Freezes the vault. Only the registry may call it (when the model is frozen).
    function freeze() external;

    /// @notice What `account` can claim now, in the base token and the datatoken.
    function claimable(address account) external view returns (uint256 baseAmount, uint256 datatokenAmount);

    /// @notice Tokens the vault holds that `distribute` has not booked yet.
    function pending() external view returns (uint256 baseAmount, uint256 datatokenAmount);

    /// @notice Tokens booked for holders and not yet claimed (what the vault owes, rounding dust included).
    function owed() external view returns (uint256 baseAmount, uint256 datatokenAmount);

    function modelId() external view returns (uint256);

    function registry() external view returns (address);

    function baseToken() external view returns (address);

    function datatoken() external view returns (address);

    function parentVault() external view returns (address);

    function parentBps() external view returns (uint16);

    function frozen() external view returns (bool);
}
