// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Minimal interface to Ocean Protocol's ERC721Template (data NFT).
/// @dev Written from oceanprotocol/contracts `contracts/templates/ERC721Template.sol` (v2); only what PostHuman calls.
/// The NFT owner holds the metadata-updater role from initialisation, so the registry (which owns every PostHuman
/// data NFT) can set Ocean metadata without granting itself anything.
interface IOceanDataNft {
    struct MetaDataProof {
        address validatorAddress;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice Sets the asset's metadata and emits MetadataCreated / MetadataUpdated, which Ocean's indexers read.
    function setMetaData(
        uint8 metaDataState,
        string calldata metaDataDecryptorUrl,
        string calldata metaDataDecryptorAddress,
        bytes calldata flags,
        bytes calldata data,
        bytes32 metaDataHash,
        MetaDataProof[] memory metadataProofs
    ) external;

    /// @return decryptorUrl, decryptorAddress, state, hasMetaData
    function getMetaData() external view returns (string memory, string memory, uint8, bool);

    function ownerOf(uint256 tokenId) external view returns (address);

    /// @notice The URI given at creation (PostHuman's model card; the template mints token 1 only).
    function tokenURI(uint256 tokenId) external view returns (string memory);
}
