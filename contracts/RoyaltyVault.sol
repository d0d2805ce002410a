// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {IRoyaltyVault, ROYALTY_VAULT_TOTAL_SHARES} from "./interfaces/IRoyaltyVault.sol";
import {IOceanDatatoken} from "./ocean/IOceanDatatoken.sol";

/// @title RoyaltyVault
/// @notice The revenue vault of one PostHuman model; see IRoyaltyVault.
/// @dev Deployed once as an implementation and cloned (EIP-1167) by the registry for every model. Claims use the
/// "magnified dividend per share" accumulator: for each asset, `_perShare` grows by amount × MAGNITUDE / supply on
/// every distribution, and a holder's earnings are (perShare × balance + correction) / MAGNITUDE − withdrawn, where the
/// signed correction absorbs share transfers. Every operation is O(1).
contract RoyaltyVault is ERC20, ReentrancyGuardTransient, IRoyaltyVault {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @notice Fixed supply of shares of every vault (18 decimals): 1,000,000 shares = 100% of a model's revenue.
    uint256 public constant TOTAL_SHARES = ROYALTY_VAULT_TOTAL_SHARES;

    /// @dev A multiple of TOTAL_SHARES, so a distribution divides exactly (perShare grows by amount × 1e12) and only
    /// each holder's own floor rounds, by less than one wei. perShare × shares stays below 2**255 for any revenue
    /// under ~5e40 wei, far above any token supply.
    uint256 private constant _MAGNITUDE = 1e36;
    uint256 private constant _BPS = 10_000;
    uint256 private constant _ASSETS = 2;

    /// @dev Byte offsets of the fixed fields in the clone's immutable args (Clones.cloneWithImmutableArgs, packed):
    /// model id (8 bytes), then the model's write-once hashes (weights root, config, data, benchmark: 32 each), which
    /// the registry keeps here rather than in its storage and the vault never reads, then parent bps (2) and parent's
    /// vault (20). A root model's clone stops after the hashes: code reads past its end are zeros, i.e. no parent and
    /// no royalty. What every vault of a deployment shares (registry, base token) is in the implementation's code.
    uint256 private constant _ARGS = 0x2d;
    uint256 private constant _AT_MODEL_ID = 0;
    uint256 private constant _AT_PARENT_BPS = 136;
    uint256 private constant _AT_PARENT_VAULT = 138;

    /// @dev The implementation's own address: it holds no args, so it can never be initialised.
    address private immutable _self;
    /// @dev The registry that clones and initialises this deployment's vaults, and the base token they account in.
    address private immutable _registry;
    IERC20 private immutable _baseToken;

    /// @dev Set once by initialize (the datatoken is created after the vault, whose address it needs).
    address private _datatoken;
    bool private _frozen;

    /// @dev Per asset: magnified earnings per share, and what is booked for holders but not yet claimed.
    uint256[_ASSETS] private _perShare;
    uint256[_ASSETS] private _owed;
    mapping(address account => int256)[_ASSETS] private _corrections;
    mapping(address account => uint256)[_ASSETS] private _withdrawn;

    /// @dev `registry_` is the registry's address, deployed right after the implementation (whose constructor checks
    /// that the implementation names it and its base token). The implementation itself is never initialised for use.
    constructor(address registry_, IERC20 baseToken_) ERC20("", "") {
        if (registry_ == address(0) || address(baseToken_) == address(0)) revert RoyaltyVaultZeroAddress();
        _self = address(this);
        _registry = registry_;
        _baseToken = baseToken_;
    }

    /// @inheritdoc IRoyaltyVault
    function initialize(InitParams calldata p) external {
        if (address(this) == _self || _datatoken != address(0)) revert RoyaltyVaultAlreadyInitialized();
        if (msg.sender != _registry) revert RoyaltyVaultNotRegistry(msg.sender);
        if (p.datatoken == address(0)) revert RoyaltyVaultZeroDatatoken();
        _datatoken = p.datatoken;
        if (p.shares[0] + p.shares[1] != TOTAL_SHARES) revert RoyaltyVaultInvalidShares(p.shares[0] + p.shares[1]);
        // The per-share accumulators are still zero, so minting needs no correction.
        if (p.shares[0] != 0) _mint(p.holders[0], p.shares[0]);
        if (p.shares[1] != 0) _mint(p.holders[1], p.shares[1]);
    }

    /// @inheritdoc IRoyaltyVault
    function distribute() external nonReentrant returns (uint256 toHolders, uint256 toParent) {
        if (_frozen) return _forwardFrozen();
        (toHolders, toParent) = _book(uint256(Asset.BaseToken), address(_baseToken), _arg(_AT_PARENT_BPS, 16));
        _book(uint256(Asset.Datatoken), _datatoken, 0);
    }

    /// @inheritdoc IRoyaltyVault
    function claim(address account) external nonReentrant returns (uint256 baseAmount, uint256 datatokenAmount) {
        if (_frozen) revert RoyaltyVaultFrozen(_modelIdArg());
        baseAmount = _take(uint256(Asset.BaseToken), account);
        datatokenAmount = _take(uint256(Asset.Datatoken), account);
        if (baseAmount == 0 && datatokenAmount == 0) revert RoyaltyVaultNothingToClaim(account);
        emit RevenueClaimed(_modelIdArg(), account, baseAmount, datatokenAmount);
        if (baseAmount != 0) _baseToken.safeTransfer(account, baseAmount);
        if (datatokenAmount != 0) IERC20(_datatoken).safeTransfer(account, datatokenAmount);
    }

    /// @inheritdoc IRoyaltyVault
    function pay(uint256 amount) external nonReentrant {
        if (amount == 0) revert RoyaltyVaultZeroAmount();
        _baseToken.safeTransferFrom(msg.sender, address(this), amount);
        emit PaymentReceived(_modelIdArg(), msg.sender, amount);
    }

    /// @inheritdoc IRoyaltyVault
    function freeze() external {
        if (msg.sender != _registry) revert RoyaltyVaultNotRegistry(msg.sender);
        _frozen = true;
        emit VaultFrozen(_modelIdArg());
    }

    /// @inheritdoc IRoyaltyVault
    function claimable(address account) external view returns (uint256 baseAmount, uint256 datatokenAmount) {
        if (_frozen) return (0, 0);
        return (_earned(uint256(Asset.BaseToken), account), _earned(uint256(Asset.Datatoken), account));
    }

    /// @inheritdoc IRoyaltyVault
    function pending() external view returns (uint256 baseAmount, uint256 datatokenAmount) {
        baseAmount = _baseToken.balanceOf(address(this)) - _owed[uint256(Asset.BaseToken)];
        datatokenAmount = IERC20(_datatoken).balanceOf(address(this)) - _owed[uint256(Asset.Datatoken)];
    }

    /// @inheritdoc IRoyaltyVault
    function owed() external view returns (uint256 baseAmount, uint256 datatokenAmount) {
        return (_owed[uint256(Asset.BaseToken)], _owed[uint256(Asset.Datatoken)]);
    }

    /// @inheritdoc IRoyaltyVault
    function modelId() external view returns (uint256) {
        return _modelIdArg();
    }

    /// @inheritdoc IRoyaltyVault
    function registry() external view returns (address) {
        return _registry;
    }

    /// @inheritdoc IRoyaltyVault
    function baseToken() external view returns (address) {
        return address(_baseToken);
    }

    /// @inheritdoc IRoyaltyVault
    function datatoken() external view returns (address) {
        return _datatoken;
    }

    /// @inheritdoc IRoyaltyVault
    function parentVault() external view returns (address) {
        return _parentVaultArg();
    }

    /// @inheritdoc IRoyaltyVault
    function parentBps() external view returns (uint16) {
        return uint16(_arg(_AT_PARENT_BPS, 16));
    }

    /// @inheritdoc IRoyaltyVault
    function frozen() external view returns (bool) {
        return _frozen;
    }

    /// @notice "PostHuman model <id> shares".
    function name() public view override returns (string memory) {
        return string.concat("PostHuman model ", Strings.toString(_modelIdArg()), " shares");
    }

    /// @notice "PHS-<id>".
    function symbol() public view override returns (string memory) {
        return string.concat("PHS-", Strings.toString(_modelIdArg()));
    }

    /// @dev Moves the accumulator corrections with the shares, so that earnings booked before a transfer stay with
    /// the sender and later ones follow the shares. Shares sent to the vault itself would earn forever unclaimed.
    function _update(address from, address to, uint256 value) internal override {
        if (to == address(this)) revert RoyaltyVaultInvalidReceiver(to);
        super._update(from, to, value);
        // Shares are minted only by initialize, in the registry's transaction that creates the vault, before anything
        // can be booked (perShare is zero), and never burned: only transfers can need a correction.
        if (from == address(0)) return;
        for (uint256 a = 0; a < _ASSETS; ++a) {
            int256 magnified = (_perShare[a] * value).toInt256();
            // Nothing booked yet (a transfer before any revenue): there is nothing to correct.
            if (magnified == 0) continue;
            _corrections[a][from] += magnified;
            _corrections[a][to] -= magnified;
        }
    }

    /// @dev Books what arrived of one asset since the last booking; `upBps` of it is sent to the parent's vault.
    function _book(uint256 a, address token, uint256 upBps) private returns (uint256 toHolders, uint256 toParent) {
        uint256 incoming = IERC20(token).balanceOf(address(this)) - _owed[a];
        if (incoming == 0) return (0, 0);
        toParent = (incoming * upBps) / _BPS;
        toHolders = incoming - toParent;
        _perShare[a] += toHolders * (_MAGNITUDE / TOTAL_SHARES);
        _owed[a] += toHolders;
        emit RevenueDistributed(_modelIdArg(), token, toHolders, toParent);
        if (toParent != 0) IERC20(token).safeTransfer(_parentVaultArg(), toParent);
    }

    /// @dev A frozen vault pays no one: its whole base-token balance goes to the parent's vault (a frozen model is
    /// always a derived one) and its datatokens, of a model that can take no more jobs, are burned.
    function _forwardFrozen() private returns (uint256 toHolders, uint256 toParent) {
        toParent = _baseToken.balanceOf(address(this));
        uint256 dtBalance = IERC20(_datatoken).balanceOf(address(this));
        _owed[uint256(Asset.BaseToken)] = 0;
        _owed[uint256(Asset.Datatoken)] = 0;
        if (toParent != 0) {
            emit RevenueDistributed(_modelIdArg(), address(_baseToken), 0, toParent);
            _baseToken.safeTransfer(_parentVaultArg(), toParent);
        }
        if (dtBalance != 0) IOceanDatatoken(_datatoken).burn(dtBalance);
        return (toHolders, toParent);
    }

    /// @dev Marks an account's earnings of one asset as withdrawn and returns them.
    function _take(uint256 a, address account) private returns (uint256 amount) {
        amount = _earned(a, account);
        if (amount != 0) {
            _withdrawn[a][account] += amount;
            _owed[a] -= amount;
        }
    }

    function _earned(uint256 a, address account) private view returns (uint256) {
        int256 magnified = (_perShare[a] * balanceOf(account)).toInt256() + _corrections[a][account];
        // Never negative: a correction only ever removes what the shares earned before they arrived.
        return uint256(magnified) / _MAGNITUDE - _withdrawn[a][account];
    }

    function _modelIdArg() private view returns (uint256) {
        return _arg(_AT_MODEL_ID, 64);
    }

    function _parentVaultArg() private view returns (address) {
        return address(uint160(_arg(_AT_PARENT_VAULT, 160)));
    }

    /// @dev The `bits`-wide field at byte `offset` of this clone's immutable args (zero past their end, and zero on the
    /// implementation, which has none).
    function _arg(uint256 offset, uint256 bits) private view returns (uint256 value) {
        if (address(this) == _self) return 0;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            extcodecopy(address(), 0, add(_ARGS, offset), 0x20)
            value := shr(sub(256, bits), mload(0))
        }
    }
}
