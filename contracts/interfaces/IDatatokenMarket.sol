// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Holder-to-holder sales of model datatokens for the base token.
/// @notice A holder lists datatokens of a PostHuman model at a fixed price per whole token; the datatokens are held in
/// escrow by this contract until bought or the listing is cancelled. A buyer takes all or part of a listing and pays
/// the seller directly. Listings of a frozen model cannot be bought (the seller can still cancel).
interface IDatatokenMarket {
    struct Listing {
        address seller;
        uint256 modelId;
        address datatoken;
        /// Datatoken wei still for sale (held in escrow).
        uint256 remaining;
        /// Base-token wei per whole datatoken (1e18 datatoken wei).
        uint256 pricePerToken;
    }

    /// @notice EIP-2612 approval of the datatoken, applied before pulling it. Ocean datatokens compare `deadline` with
    /// the block number.
    struct Permit {
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    event ListingCreated(
        uint256 indexed listingId,
        uint256 indexed modelId,
        address indexed seller,
        uint256 amount,
        uint256 pricePerToken
    );

    /// @notice `buyer` took `amount` of the listing for `cost` base token, paid to the seller.
    event ListingFilled(
        uint256 indexed listingId,
        uint256 indexed modelId,
        address indexed buyer,
        address seller,
        uint256 amount,
        uint256 cost
    );

    event ListingCancelled(
        uint256 indexed listingId,
        uint256 indexed modelId,
        address indexed seller,
        uint256 returned
    );

    error DatatokenMarketUnknownListing(uint256 listingId);
    error DatatokenMarketNotSeller(uint256 listingId, address caller);
    error DatatokenMarketZeroAmount();
    error DatatokenMarketZeroPrice();
    error DatatokenMarketInsufficientListing(uint256 listingId, uint256 available, uint256 requested);
    error DatatokenMarketModelFrozen(uint256 modelId);
    error DatatokenMarketCostAboveMax(uint256 cost, uint256 maxCost);
    error DatatokenMarketZeroAddress();

    /// @notice Lists `amount` datatokens of `modelId` (pulled from the caller) at `pricePerToken`. Returns the id.
    /// Reverts with DatatokenMarketModelFrozen for a frozen model.
    function createListing(uint256 modelId, uint256 amount, uint256 pricePerToken) external returns (uint256 listingId);

    /// @notice Same as `createListing`, approving the datatoken with an EIP-2612 signature first.
    function createListingWithPermit(
        uint256 modelId,
        uint256 amount,
        uint256 pricePerToken,
        Permit calldata permit
    ) external returns (uint256 listingId);

    /// @notice Buys `amount` of a listing; pays at most `maxCost` base token (cost rounds up to the wei).
    function buy(uint256 listingId, uint256 amount, uint256 maxCost) external returns (uint256 cost);

    /// @notice Returns the unsold datatokens to the seller and closes the listing. Only the seller may call it.
    function cancelListing(uint256 listingId) external;

    /// @notice Base-token cost of `amount` datatoken wei of a listing (rounded up).
    function quote(uint256 listingId, uint256 amount) external view returns (uint256);

    function getListing(uint256 listingId) external view returns (Listing memory);

    function listingCount() external view returns (uint256);

    function registry() external view returns (address);

    function baseToken() external view returns (address);
}
