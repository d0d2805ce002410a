// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IDatatokenMarket} from "./interfaces/IDatatokenMarket.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";

/// @title DatatokenMarket
/// @notice Escrowed holder-to-holder listings of PostHuman datatokens; see IDatatokenMarket.
/// @dev The contract's balance of each datatoken always equals the `remaining` of that datatoken's open listings; it
/// never holds the base token (buyers pay sellers directly).
contract DatatokenMarket is IDatatokenMarket, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint256 private constant _ONE = 1e18;

    IModelRegistry private immutable _registry;
    IERC20 private immutable _baseToken;

    uint256 private _listingCount;
    mapping(uint256 listingId => Listing) private _listings;

    constructor(address registry_, address baseToken_) {
        if (registry_ == address(0) || baseToken_ == address(0)) revert DatatokenMarketZeroAddress();
        _registry = IModelRegistry(registry_);
        _baseToken = IERC20(baseToken_);
    }

    /// @inheritdoc IDatatokenMarket
    function createListing(
        uint256 modelId,
        uint256 amount,
        uint256 pricePerToken
    ) external nonReentrant returns (uint256 listingId) {
        return _list(modelId, amount, pricePerToken, _datatokenOf(modelId));
    }

    /// @inheritdoc IDatatokenMarket
    function createListingWithPermit(
        uint256 modelId,
        uint256 amount,
        uint256 pricePerToken,
        Permit calldata permit
    ) external nonReentrant returns (uint256 listingId) {
        address datatoken = _datatokenOf(modelId);
        // A failed permit (front-run, or replayed) is ignored: the pull below then needs an existing allowance.
        IERC20Permit token = IERC20Permit(datatoken);
        // solhint-disable-next-line no-empty-blocks
        try token.permit(msg.sender, address(this), amount, permit.deadline, permit.v, permit.r, permit.s) {} catch {}
        return _list(modelId, amount, pricePerToken, datatoken);
    }

    /// @inheritdoc IDatatokenMarket
    function buy(uint256 listingId, uint256 amount, uint256 maxCost) external nonReentrant returns (uint256 cost) {
        Listing storage listing = _existing(listingId);
        if (amount == 0) revert DatatokenMarketZeroAmount();
        uint256 remaining = listing.remaining;
        if (amount > remaining) revert DatatokenMarketInsufficientListing(listingId, remaining, amount);
        uint256 modelId = listing.modelId;
        if (_registry.isFrozen(modelId)) revert DatatokenMarketModelFrozen(modelId);
        cost = Math.mulDiv(amount, listing.pricePerToken, _ONE, Math.Rounding.Ceil);
        if (cost > maxCost) revert DatatokenMarketCostAboveMax(cost, maxCost);
        // Cannot underflow: amount ≤ remaining, checked above.
        unchecked {
            listing.remaining = remaining - amount;
        }
        address seller = listing.seller;
        emit ListingFilled(listingId, modelId, msg.sender, seller, amount, cost);
        _baseToken.safeTransferFrom(msg.sender, seller, cost);
        IERC20(listing.datatoken).safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IDatatokenMarket
    function cancelListing(uint256 listingId) external nonReentrant {
        Listing storage listing = _existing(listingId);
        if (msg.sender != listing.seller) revert DatatokenMarketNotSeller(listingId, msg.sender);
        uint256 returned = listing.remaining;
        listing.remaining = 0;
        emit ListingCancelled(listingId, listing.modelId, msg.sender, returned);
        if (returned != 0) IERC20(listing.datatoken).safeTransfer(msg.sender, returned);
    }

    /// @inheritdoc IDatatokenMarket
    function quote(uint256 listingId, uint256 amount) external view returns (uint256) {
        return Math.mulDiv(amount, _existing(listingId).pricePerToken, _ONE, Math.Rounding.Ceil);
    }

    /// @inheritdoc IDatatokenMarket
    function getListing(uint256 listingId) external view returns (Listing memory) {
        return _existing(listingId);
    }

    /// @inheritdoc IDatatokenMarket
    function listingCount() external view returns (uint256) {
        return _listingCount;
    }

    /// @inheritdoc IDatatokenMarket
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc IDatatokenMarket
    function baseToken() external view returns (address) {
        return address(_baseToken);
    }

    function _list(
        uint256 modelId,
        uint256 amount,
        uint256 pricePerToken,
        address datatoken
    ) private returns (uint256 listingId) {
        if (amount == 0) revert DatatokenMarketZeroAmount();
        if (pricePerToken == 0) revert DatatokenMarketZeroPrice();
        // A frozen model's tokens could never be bought from the listing: refuse it rather than escrow them.
        if (_registry.isFrozen(modelId)) revert DatatokenMarketModelFrozen(modelId);
        listingId = ++_listingCount;
        _listings[listingId] = Listing(msg.sender, modelId, datatoken, amount, pricePerToken);
        emit ListingCreated(listingId, modelId, msg.sender, amount, pricePerToken);
        IERC20(datatoken).safeTransferFrom(msg.sender, address(this), amount);
    }

    function _datatokenOf(uint256 modelId) private view returns (address datatoken) {
        (datatoken, , ) = _registry.modelStatus(modelId);
    }

    function _existing(uint256 listingId) private view returns (Listing storage listing) {
        listing = _listings[listingId];
        if (listing.seller == address(0)) revert DatatokenMarketUnknownListing(listingId);
    }
}
